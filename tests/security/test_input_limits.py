"""Bad input at the gateway: every limit is a 4xx problem+json and nothing is published or
stored; no path, id, key or name can walk out of where it belongs."""

from __future__ import annotations

import io
import struct
import uuid
import zlib

import httpx
import pytest
from PIL import Image

from atelier.contracts import subjects
from atelier.contracts.generation import MAX_IMAGES, MAX_PROMPT_CHARS
from atelier.gateway.entrypoints.generations import MAX_UPLOAD_BYTES
from atelier.platform.local import Platform
from tests.helpers import client, count_events, seed_workspace, tiny_png
from tests.security.api_routes import QUICK_JOB
from tests.security.figures import refused

pytestmark = pytest.mark.e2e

TRAVERSAL = "../../" + str(uuid.uuid4())
BAD_GENERATIONS = {
    "prompt too long": {"prompt": "x" * (MAX_PROMPT_CHARS + 1)},
    "empty prompt": {"prompt": "   "},
    "negative prompt too long": {"negative_prompt": "x" * (MAX_PROMPT_CHARS + 1)},
    "no images": {"num_images": 0},
    "too many images": {"num_images": MAX_IMAGES + 1},
    "too wide": {"width": 4096},
    "too small": {"height": 32},
    "not a multiple of 8": {"width": 100},
    "no steps": {"steps": 0},
    "too many steps": {"steps": 101},
    "guidance too high": {"guidance_scale": 21},
    "negative seed": {"seed": -1},
    "seed over 32 bits": {"seed": 2**32},
    "unknown model": {"model": "dalle"},
    "video from sdxl": {"mode": "video"},
    "frames for an image": {"num_frames": 9},
    "too many frames": {"model": "wan", "mode": "video", "num_frames": 1001},
    "frames not 4k+1": {"model": "wan", "mode": "video", "num_frames": 10},
    "unknown field": {"is_admin": True},
    "traversal as an asset id": {"reference_image": {"asset_id": TRAVERSAL}},
    "traversal as an upload id": {"reference_image": {"upload_id": TRAVERSAL}},
    "two reference sources": {
        "reference_image": {"asset_id": str(uuid.uuid4()), "upload_id": str(uuid.uuid4())}
    },
}


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` (a decompression bomb's shape)."""
    png = bytearray(tiny_png())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(png[24:29])
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(png)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="JPEG")
    return out.getvalue()


BAD_UPLOADS = {
    "over the size limit": ("image/png", 413, b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES),
    "more pixels than allowed": ("image/png", 413, _png_claiming(5000, 5000)),
    "a decompression bomb": ("image/png", 422, _png_claiming(30000, 30000)),
    "not an image": ("image/png", 422, b"<?php system($_GET['c']); ?>"),
    "svg": ("image/svg+xml", 415, b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    "html": ("text/html", 415, b"<script>alert(1)</script>"),
    "no type": ("", 415, tiny_png()),
}


def _is_problem(response: httpx.Response, *statuses: int) -> bool:
    return (
        response.status_code in statuses
        and response.headers["content-type"] == "application/problem+json"
    )


async def test_generation_limits_are_refused_and_nothing_is_published(platform: Platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        for name, change in BAD_GENERATIONS.items():
            response = await api.post("/v1/generations", json=QUICK_JOB | change)
            assert _is_problem(response, 422), (name, response.status_code, response.text)
        assert await count_events(platform, subjects.user_events(user)) == 0
    refused("generation request over a limit", len(BAD_GENERATIONS))


async def test_bad_uploads_are_refused(platform: Platform):
    async with client(platform) as api:
        for name, (content_type, status, body) in BAD_UPLOADS.items():
            headers = {"Content-Type": content_type} if content_type else {}
            response = await api.post("/v1/uploads", content=body, headers=headers)
            assert _is_problem(response, status), (name, response.status_code, response.text)
        good = await api.post(
            "/v1/uploads", content=_jpeg(), headers={"Content-Type": "image/jpeg"}
        )
        assert good.status_code == 201  # the control
    refused("bad upload", len(BAD_UPLOADS))


async def test_no_path_walks_out(platform: Platform):
    """Traversal in path ids, cursors and filters, and in the console's static files."""
    user = uuid.uuid4()
    await seed_workspace(platform, user, 1)
    secret_file = platform.data_dir / "secrets.json"
    assert secret_file.exists()
    attempts = [
        ("GET", "/v1/generations/..%2F..%2Fsecrets.json"),
        ("DELETE", f"/v1/workspace/assets/{'..%2F' * 3}etc%2Fpasswd"),
        ("POST", "/v1/workspace/assets/%2e%2e%2f%2e%2e/save"),
        ("PATCH", "/v1/library/assets/..%5C..%5Cwindows"),
        ("GET", "/v1/workspace/assets?cursor=..%2F..%2F..%2Fetc%2Fpasswd"),
        ("GET", "/v1/library/assets?collection_id=../../x"),
        ("GET", "/..%2F..%2F..%2Fpyproject.toml"),
        ("GET", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
        ("GET", "/static/..%2F..%2F..%2F..%2Fsecrets.json"),
        ("GET", f"/{'..%252F' * 6}etc%252Fpasswd"),
    ]
    async with client(platform, user) as api:
        for method, path in attempts:
            response = await api.request(method, path, json={})
            assert 400 <= response.status_code < 500, (method, path, response.text)
            assert "jwt_secret" not in response.text
            assert "root:" not in response.text
        # A filter is data, never SQL: an injection finds nothing of anyone's.
        injected = await api.get("/v1/library/assets", params={"q": "' OR '1'='1' --"})
        assert injected.status_code == 200
        assert injected.json()["items"] == []
    refused("path traversal or injection", len(attempts) + 1)
