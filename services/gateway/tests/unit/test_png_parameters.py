"""The parameters an uploaded PNG carries, read as settings; anything else is null."""

from __future__ import annotations

import io
import json
import zlib

import pytest
from PIL import Image, PngImagePlugin

from atelier.contracts.generation import GenerationSpec
from atelier.gateway.domain.png_parameters import png_parameters
from atelier.inference.jobs import RenderedFile


def _opened(data: bytes):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _png(text: str | None = None, *, itxt: bool = True, compress: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    if text is not None:
        if itxt:
            info.add_itxt("parameters", text, zip=compress)
        else:
            info.add_text("parameters", text, zip=compress)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def test_a_png_the_platform_made_gives_its_settings_back():
    spec = GenerationSpec(
        model="sdxl", mode="image", quality="high", prompt="a fox — 狐", negative_prompt="blur",
        num_images=3, seed=100, width=64, height=64, steps=3, guidance_scale=6.5,
    )  # fmt: skip
    made = RenderedFile.png(2, Image.new("RGB", (64, 64)), spec, 102)  # as a worker encodes
    settings = png_parameters(_opened(made.data))
    assert settings is not None
    assert settings.model_dump(exclude_none=True) == {
        "prompt": "a fox — 狐", "negative_prompt": "blur", "model": "sdxl", "mode": "image",
        "quality": "high", "width": 64, "height": 64, "steps": 3, "guidance_scale": 6.5,
        "seed": 102,
    }  # fmt: skip


@pytest.mark.parametrize("itxt", [True, False])
@pytest.mark.parametrize("compress", [True, False])
def test_every_kind_of_text_chunk_is_read(itxt, compress):
    settings = png_parameters(_opened(_png('{"seed": 5}', itxt=itxt, compress=compress)))
    assert settings is not None
    assert settings.seed == 5


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="JPEG", comment=b'{"seed": 5}')
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        _png(),  # a plain PNG
        _jpeg(),
        _png("Steps: 20, Sampler: Euler a, Seed: 5"),  # A1111's text, not JSON
        _png('{"seed": 5'),
        _png("[1, 2, 3]"),
        _png('"a string"'),
        _png('{"owner": "x", "num_images": 3}'),  # nothing known
        _png("[" * 50_000 + "]" * 50_000),  # nesting beyond the JSON parser's recursion
        _png('{"seed": ' + "9" * 5000 + "}"),  # an integer Python refuses to read
        _png(json.dumps({"seed": 5, "prompt": "x" * 70_000})),  # oversize
    ],
    ids=[
        "plain", "jpeg", "a1111", "broken", "list", "string", "unknown", "deep", "huge-int",
        "oversize",
    ],
)  # fmt: skip
def test_anything_but_an_atelier_png_gives_null(data):
    assert png_parameters(_opened(data)) is None


def test_a_field_with_control_characters_is_null_and_the_rest_stays():
    text = json.dumps({"prompt": "a\x00b", "negative_prompt": "\x1b[2J", "seed": 5})
    settings = png_parameters(_opened(_png(text)))
    assert settings is not None
    assert (settings.prompt, settings.negative_prompt, settings.seed) == (None, None, 5)


def test_a_compressed_chunk_that_inflates_beyond_pillows_limit_is_not_read():
    bomb = zlib.compress(b" " * (PngImagePlugin.MAX_TEXT_CHUNK + 1))
    assert len(bomb) < 10_000
    raw = _png('{"seed": 5}', compress=True)
    # Swap the chunk's compressed text for the bomb (the chunk's CRC follows its data).
    start = raw.index(b"iTXt") + 4
    header = b"parameters\x00\x01\x00\x00\x00"
    assert raw[start : start + len(header)] == header
    length = int.from_bytes(raw[start - 8 : start - 4], "big")
    data = header + bomb
    chunk = len(data).to_bytes(4, "big") + b"iTXt" + data
    crc = zlib.crc32(b"iTXt" + data).to_bytes(4, "big")
    forged = raw[: start - 8] + chunk + crc + raw[start + length + 4 :]
    try:
        image = _opened(forged)
    except ValueError:
        return  # Pillow refuses the file: the upload answers 422
    assert png_parameters(image) is None
