"""Encoding of generated media: PNG with embedded parameters, WebP thumbnails, H.264 MP4.

Pillow and PyAV only (PyAV is imported lazily, for the video functions); no torch.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image, PngImagePlugin

PARAMETERS_KEY = "parameters"


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")


def encode_png(image: Image.Image, parameters: Mapping[str, object]) -> bytes:
    """PNG bytes of `image`, with `parameters` as compact JSON (sorted keys) in an iTXt chunk
    keyed "parameters" (UTF-8, so prompts in any script survive)."""
    text = json.dumps(
        dict(parameters), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PARAMETERS_KEY, text)
    out = io.BytesIO()
    _to_rgb_or_rgba(image).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def read_png_parameters(data: bytes) -> dict:
    """The parameters `encode_png` embedded; `{}` if the PNG carries none."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "PNG":
            raise ValueError(f"not a PNG image: {image.format}")
        text = image.text.get(PARAMETERS_KEY)  # type: ignore[attr-defined]
    if text is None:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("PNG parameters chunk does not hold a JSON object")
    return value


def webp_thumbnail(image: Image.Image, max_side: int = 256, quality: int = 80) -> bytes:
    """WebP bytes of `image` fitted into a `max_side` square, aspect ratio kept; an image
    already smaller keeps its size."""
    if max_side < 1:
        raise ValueError("max_side must be positive")
    thumb = _to_rgb_or_rgba(image).copy()
    thumb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=quality, method=4)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class VideoInfo:
    width: int
    height: int
    frames: int
    fps: float
    duration_seconds: float
    codec: str


def _even_rgb(frame: Image.Image, width: int, height: int) -> Image.Image:
    """`frame` as RGB, padded to (width, height) by repeating its last column and row."""
    frame = frame.convert("RGB")
    w, h = frame.size
    if (w, h) == (width, height):
        return frame
    padded = Image.new("RGB", (width, height))
    padded.paste(frame, (0, 0))
    if width > w:
        padded.paste(frame.crop((w - 1, 0, w, h)).resize((width - w, h)), (w, 0))
    if height > h:
        padded.paste(padded.crop((0, h - 1, width, h)).resize((width, height - h)), (0, h))
    return padded


def encode_mp4(frames: Sequence[Image.Image], fps: int, crf: int = 18) -> bytes:
    """H.264 (libx264, yuv420p) MP4 of `frames`, built in memory. Odd sizes are padded to even
    ones (by repeating the last column/row), as 4:2:0 chroma needs; the moov atom comes first
    so a browser can start playing before the whole file has arrived."""
    import av

    if not frames:
        raise ValueError("encode_mp4 needs at least one frame")
    if fps <= 0:
        raise ValueError("fps must be positive")
    src_w, src_h = frames[0].size
    if any(frame.size != (src_w, src_h) for frame in frames):
        raise ValueError("all frames must have the same size")
    width, height = src_w + src_w % 2, src_h + src_h % 2

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_image(_even_rgb(image, width, height))
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return _faststart(out.getvalue())


_CONTAINER_ATOMS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _atoms(data: bytes | bytearray, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(type, offset, header size, total size) of the boxes in data[start:end]."""
    boxes = []
    offset = start
    while offset + 8 <= end:
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = bytes(data[offset + 4 : offset + 8])
        header = 8
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise ValueError("malformed MP4 box")
        boxes.append((kind, offset, header, size))
        offset += size
    return boxes


def _shift_chunk_offsets(moov: bytearray, start: int, end: int, delta: int) -> None:
    for kind, offset, header, size in _atoms(moov, start, end):
        if kind in _CONTAINER_ATOMS:
            _shift_chunk_offsets(moov, offset + header, offset + size, delta)
        elif kind in (b"stco", b"co64"):
            width = 4 if kind == b"stco" else 8
            body = offset + header + 4  # version and flags
            count = int.from_bytes(moov[body : body + 4], "big")
            for i in range(count):
                at = body + 4 + i * width
                value = int.from_bytes(moov[at : at + width], "big") + delta
                if value >= 1 << (8 * width):
                    raise ValueError("chunk offset overflows stco")
                moov[at : at + width] = value.to_bytes(width, "big")


def _faststart(data: bytes) -> bytes:
    """Move the moov box in front of mdat (what ffmpeg's `-movflags +faststart` does, which
    needs a named file), so players can start before the whole file has arrived."""
    boxes = _atoms(data, 0, len(data))
    kinds = [kind for kind, *_ in boxes]
    if b"moov" not in kinds or b"mdat" not in kinds:
        return data
    moov_index, mdat_index = kinds.index(b"moov"), kinds.index(b"mdat")
    if moov_index < mdat_index:
        return data
    _, moov_offset, _, moov_size = boxes[moov_index]
    moov = bytearray(data[moov_offset : moov_offset + moov_size])
    _shift_chunk_offsets(moov, 0, len(moov), moov_size)
    head = b"".join(
        data[offset : offset + size]
        for i, (_, offset, _, size) in enumerate(boxes)
        if i < mdat_index
    )
    tail = b"".join(
        data[offset : offset + size]
        for i, (_, offset, _, size) in enumerate(boxes)
        if i >= mdat_index and i != moov_index
    )
    return head + bytes(moov) + tail


def probe_video(data: bytes) -> VideoInfo:
    """Size, frame count, frame rate, duration and codec of an encoded video."""
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        frames = stream.frames
        if not frames:
            frames = sum(1 for _ in container.decode(stream))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = frames / fps if fps else 0.0
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            frames=frames,
            fps=fps,
            duration_seconds=duration,
            codec=stream.codec_context.name,
        )
