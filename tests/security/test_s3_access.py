"""S3 as an attacker sees it: no anonymous access, signed URLs expire, and one user's
signed URL cannot be bent to reach another user's objects."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from atelier.contracts.storage import LIBRARY_BUCKET, WORKSPACE_BUCKET
from atelier.platform.local import Platform
from atelier.runtime.objects import ObjectStore
from tests.helpers import client, eventually, seed_workspace, store, tiny_png, workspace_items
from tests.security.figures import refused

pytestmark = pytest.mark.e2e


async def test_anonymous_requests_are_refused(platform: Platform) -> None:
    completed = await seed_workspace(platform, uuid.uuid4(), 1)
    key = completed.data.assets[0].storage_key
    base = platform.settings().s3_endpoint_url
    attempts = [
        ("GET", f"{base}/{WORKSPACE_BUCKET}/{key}", None),
        ("PUT", f"{base}/{WORKSPACE_BUCKET}/{key}", b"overwritten"),
        ("PUT", f"{base}/{WORKSPACE_BUCKET}/{uuid.uuid4()}/planted.png", b"planted"),
        ("DELETE", f"{base}/{WORKSPACE_BUCKET}/{key}", None),
        ("GET", f"{base}/{WORKSPACE_BUCKET}?list-type=2", None),
        ("GET", f"{base}/{LIBRARY_BUCKET}?list-type=2", None),
        ("GET", f"{base}/", None),
    ]
    async with httpx.AsyncClient(timeout=10) as http:
        for method, url, body in attempts:
            response = await http.request(method, url, content=body)
            assert response.status_code == 403, (method, url, response.text)
    async with store(platform) as s3:
        assert await s3.get(WORKSPACE_BUCKET, key) == tiny_png(0)
    refused("anonymous S3 request", len(attempts))


async def test_a_signed_url_reaches_its_own_object_only(platform: Platform) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    owners = await seed_workspace(platform, owner, 1)
    await seed_workspace(platform, other, 1)
    async with client(platform, other) as api:
        (item,) = await eventually(lambda: workspace_items(api))
    url = urlsplit(item["file_url"])
    owners_key = owners.data.assets[0].storage_key
    bent = [
        url._replace(path=f"/{WORKSPACE_BUCKET}/{owners_key}"),
        url._replace(path=f"/{WORKSPACE_BUCKET}/{owners_key.split('/')[0]}/"),
        url._replace(path=url.path.replace(str(other), str(owner))),
        url._replace(path=f"/{LIBRARY_BUCKET}{url.path.removeprefix('/' + WORKSPACE_BUCKET)}"),
        url._replace(query=_with(url.query, **{"X-Amz-Expires": "604800"})),
    ]
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(item["file_url"])).status_code == 200  # the control
        for each in bent:
            response = await http.get(urlunsplit(each))
            assert response.status_code == 403, (urlunsplit(each), response.text)
    refused("bent signed URL", len(bent))


async def test_signed_urls_expire(platform: Platform) -> None:
    completed = await seed_workspace(platform, uuid.uuid4(), 1)
    # signed as of now (no window), for one second
    settings = platform.settings().model_copy(update={"signed_url_window_seconds": 0})
    async with ObjectStore(settings) as s3:
        url = await s3.presign_get(WORKSPACE_BUCKET, completed.data.assets[0].storage_key, 1)
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(url)).status_code == 200
        await asyncio.sleep(2.5)
        assert (await http.get(url)).status_code == 403
    refused("expired signed URL")


def _with(query: str, **changes: str) -> str:
    return urlencode(dict(parse_qsl(query)) | changes)
