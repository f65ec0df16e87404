"""The Wan pipelines wrapper on tiny offline models (real architectures, random weights)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from atelier.gpu_wan.pipeline import GenerationInterrupted, WanPipelines
from atelier.gpu_wan.tiny_model import build_tiny_wan
from atelier.inference.media import encode_mp4, probe_video
from atelier.inference.progress import StepHooks

COMMON = {
    "prompt": "a paper boat on a river",
    "negative_prompt": "blurry",
    "num_frames": 9,
    "seed": 3,
    "width": 32,
    "height": 32,
    "steps": 3,
    "guidance_scale": 5.0,
}


@pytest.fixture(scope="module")
def wan21(models: dict[str, Path]) -> WanPipelines:
    return WanPipelines.load(str(models["t2v"]), str(models["i2v"]), device="cpu")


@pytest.fixture(scope="module")
def wan22(models: dict[str, Path]) -> WanPipelines:
    return WanPipelines.load(str(models["t2v"]), str(models["i2v22"]), device="cpu")


def video(frames: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(frame, dtype=np.int16) for frame in frames])


def noise_image(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_tiny_models_share_encoders_and_rebuilding_is_a_no_op(models: dict[str, Path]):
    assert (models["i2v"] / "image_encoder").is_dir()
    assert (models["i2v"] / "image_processor").is_dir()
    assert not (models["i2v22"] / "image_encoder").exists()
    assert (models["i2v22"] / "transformer_2").is_dir()
    for name in ("text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors"):
        weights = (models["t2v"] / name).read_bytes()
        assert (models["i2v"] / name).read_bytes() == weights
        assert (models["i2v22"] / name).read_bytes() == weights
    before = (models["t2v"] / "model_index.json").stat().st_mtime_ns
    assert build_tiny_wan(models["t2v"]) == models["t2v"]
    assert (models["t2v"] / "model_index.json").stat().st_mtime_ns == before


def test_text_to_video_frames_encode_as_h264(wan21: WanPipelines):
    frames = wan21.text_to_video(**COMMON)
    assert len(frames) == 9
    assert all(frame.size == (32, 32) and frame.mode == "RGB" for frame in frames)

    info = probe_video(encode_mp4(frames, fps=wan21.fps))
    assert (info.codec, info.frames, info.width, info.height) == ("h264", 9, 32, 32)
    assert info.fps == 16.0

    again = wan21.text_to_video(**COMMON)
    assert np.array_equal(video(frames), video(again))


def test_text_to_video_checks_geometry(wan21: WanPipelines):
    with pytest.raises(ValueError, match="4k \\+ 1"):
        wan21.text_to_video(**(COMMON | {"num_frames": 10}))
    with pytest.raises(ValueError, match="multiples of 16"):
        wan21.text_to_video(**(COMMON | {"width": 40}))


def test_should_stop_interrupts(wan21: WanPipelines):
    steps: list[tuple[int, int]] = []
    with pytest.raises(GenerationInterrupted):
        wan21.text_to_video(
            **COMMON,
            hooks=StepHooks(
                on_step=lambda done, total: steps.append((done, total)),
                should_stop=lambda: len(steps) >= 2,
            ),
        )
    assert steps == [(1, 3), (2, 3)]


def test_image_to_video_follows_the_start_frame(wan21: WanPipelines):
    assert wan21.supports_image_to_video
    first = wan21.image_to_video(image=noise_image(1), **COMMON)
    other = wan21.image_to_video(image=noise_image(2), **COMMON)
    assert len(first) == len(other) == 9
    assert first[0].size == (32, 32)
    assert np.abs(video(first) - video(other)).max() > 0


def test_wan21_i2v_refuses_a_last_frame(wan21: WanPipelines):
    assert not wan21.supports_last_frame
    with pytest.raises(ValueError, match="last frame"):
        wan21.image_to_video(image=noise_image(1), last_image=noise_image(2), **COMMON)


def test_wan22_i2v_first_and_last_frame(wan22: WanPipelines):
    assert wan22.supports_last_frame
    assert not wan22.requires_last_frame
    start_only = wan22.image_to_video(image=noise_image(1), **COMMON)
    with_last = wan22.image_to_video(image=noise_image(1), last_image=noise_image(2), **COMMON)
    assert len(with_last) == 9
    assert np.abs(video(start_only) - video(with_last)).max() > 0


def test_shared_encoders_are_held_once(models: dict[str, Path], wan21: WanPipelines):
    separate = WanPipelines.load(
        str(models["t2v"]), str(models["i2v"]), device="cpu", share_encoders=False
    )
    alone = WanPipelines.load(str(models["t2v"]), None, device="cpu")
    assert not alone.supports_image_to_video
    assert alone.memory_bytes < wan21.memory_bytes < separate.memory_bytes
    # sharing changes where the weights live, not what they compute
    assert np.array_equal(
        video(separate.image_to_video(image=noise_image(1), **COMMON)),
        video(wan21.image_to_video(image=noise_image(1), **COMMON)),
    )
