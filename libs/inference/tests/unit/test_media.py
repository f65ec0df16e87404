import io
import subprocess
import sys

import av
import pytest
from PIL import Image, PngImagePlugin

from atelier.contracts import examples
from atelier.contracts.generation import ImageRef, Reference
from atelier.inference.jobs import RenderedFile
from atelier.inference.media import (
    VideoInfo,
    encode_mp4,
    encode_png,
    probe_video,
    read_png_parameters,
    webp_thumbnail,
)


def _gradient(width: int, height: int, mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [(x * 7 % 256, y * 5 % 256, (x + y) % 256) for y in range(height) for x in range(width)]
    )
    return image.convert(mode)


def test_png_round_trips_parameters_as_compact_sorted_json():
    params = {"seed": 42, "prompt": "un chat 猫 🎨", "steps": 30, "guidance": 5.5, "size": [64, 96]}
    data = encode_png(_gradient(64, 96), params)

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert read_png_parameters(data) == params
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (64, 96)
        assert image.text["parameters"] == (
            '{"guidance":5.5,"prompt":"un chat 猫 🎨","seed":42,"size":[64,96],"steps":30}'
        )
        assert image.tobytes() == _gradient(64, 96).tobytes()


def test_png_keeps_alpha_and_converts_other_modes():
    with Image.open(io.BytesIO(encode_png(_gradient(8, 8, "RGBA"), {}))) as image:
        assert image.mode == "RGBA"
    with Image.open(io.BytesIO(encode_png(_gradient(8, 8, "L"), {"a": 1}))) as image:
        assert image.mode == "RGB"


def test_png_parameters_of_other_images():
    plain = io.BytesIO()
    _gradient(4, 4).save(plain, format="PNG")
    assert read_png_parameters(plain.getvalue()) == {}

    text_chunk = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", '{"seed":1}')  # a tEXt chunk, as other tools write it
    _gradient(4, 4).save(text_chunk, format="PNG", pnginfo=info)
    assert read_png_parameters(text_chunk.getvalue()) == {"seed": 1}

    jpeg = io.BytesIO()
    _gradient(4, 4).save(jpeg, format="JPEG")
    with pytest.raises(ValueError, match="not a PNG"):
        read_png_parameters(jpeg.getvalue())


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [((1024, 512), 256, (256, 128)), ((300, 900), 256, (85, 256)), ((100, 50), 256, (100, 50))],
)
def test_webp_thumbnail_fits_the_box_without_upscaling(size, max_side, expected):
    data = webp_thumbnail(_gradient(*size), max_side=max_side)
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == expected


def test_webp_thumbnail_default_size_and_alpha():
    translucent = _gradient(512, 512, "RGBA")
    translucent.putalpha(128)
    with Image.open(io.BytesIO(webp_thumbnail(translucent))) as thumb:
        assert thumb.size == (256, 256)
        assert thumb.mode == "RGBA"


def test_mp4_is_h264_with_every_frame_and_the_rate():
    colours = [(i * 25, 255 - i * 25, 128) for i in range(9)]
    frames = [Image.new("RGB", (32, 48), colour) for colour in colours]

    data = encode_mp4(frames, fps=16)

    assert probe_video(data) == VideoInfo(
        width=32, height=48, frames=9, fps=16.0, duration_seconds=9 / 16, codec="h264"
    )
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: playable while downloading
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        decoded = [frame.to_image() for frame in container.decode(stream)]
    assert len(decoded) == 9
    for image, colour in zip(decoded, colours, strict=True):
        pixel = image.getpixel((16, 24))
        assert all(abs(a - b) <= 6 for a, b in zip(pixel, colour, strict=True)), (pixel, colour)


def test_mp4_pads_odd_sizes_to_even():
    frames = [_gradient(33, 31) for _ in range(5)]
    info = probe_video(encode_mp4(frames, fps=8))
    assert (info.width, info.height, info.frames, info.fps) == (34, 32, 5, 8.0)


def test_mp4_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one frame"):
        encode_mp4([], fps=16)
    with pytest.raises(ValueError, match="same size"):
        encode_mp4([_gradient(16, 16), _gradient(32, 16)], fps=16)
    with pytest.raises(ValueError, match="fps"):
        encode_mp4([_gradient(16, 16)], fps=0)


def test_media_does_not_import_torch():
    code = "import sys, atelier.inference.media; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_generated_png_names_no_object_key_of_its_owner():
    """A shared file is public: its parameters keep the reference's mode and strength but
    not the key of the image it started from (keys begin with the owner's id)."""
    owner = "0b6f3c1e-9d2a-4f5b-8c7d-1e2f3a4b5c6d"
    image = ImageRef(bucket="workspace-temp", key=f"{owner}/uploads/a.png")
    spec = examples.spec(
        reference=Reference(image=image, mode="modify", strength=0.5),
        guidance_scale=5.0,
        steps=20,
    )
    rendered = RenderedFile.png(0, _gradient(64, 64), spec, 7)
    parameters = read_png_parameters(rendered.data)
    assert owner not in str(parameters)
    assert parameters["reference"] == {"mode": "modify", "strength": 0.5}
    assert parameters["seed"] == 7
    assert "num_images" not in parameters
