"""Several text-to-video jobs in one Wan call on the tiny offline model: each makes what it
would alone, a cancelled one leaves the batch (and the multistep scheduler's history) at its
next step; First Block Cache; what the pipeline really holds."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from atelier.contracts import examples
from atelier.gpu_wan.config import WanSettings
from atelier.gpu_wan.pipeline import WanPipelines
from atelier.gpu_wan.renderer import WanRenderer
from atelier.inference.jobs import RenderJob
from atelier.inference.pipelines import BatchPart
from atelier.inference.progress import GenerationInterrupted, StepHooks

SHAPE = {"num_frames": 5, "width": 32, "height": 32, "steps": 4, "guidance_scale": 5.0}


@pytest.fixture(scope="module")
def model_dir(models: dict[str, Path]) -> Path:
    """The text-to-video model."""
    return models["t2v"]


@pytest.fixture(scope="module")
def wan(model_dir: Path) -> WanPipelines:
    return WanPipelines.load(str(model_dir), device="cpu")


def video(frames: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(frame, dtype=np.int16) for frame in frames])


def same(a: list[list[Image.Image]], b: list[list[Image.Image]]) -> bool:
    return len(a) == len(b) and all(
        np.abs(video(x) - video(y)).max() <= 1 for x, y in zip(a, b, strict=True)
    )


def test_videos_in_one_call_are_what_each_makes_alone_and_a_cancelled_one_leaves(wan):
    rows: list[int] = []
    wan._t2v.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: rows.append(kwargs["hidden_states"].shape[0]),
        with_kwargs=True,
    )
    steps_of_b: list[int] = []
    a = BatchPart("a paper boat", None, seed=1, count=2)
    b = BatchPart(
        "rain",
        "static",
        seed=9,
        hooks=StepHooks(
            on_step=lambda done, total: steps_of_b.append(done),
            should_stop=lambda: len(steps_of_b) >= 2,
        ),
    )
    c = BatchPart("a city at night", "blurry", seed=4)
    together = wan.text_to_video_batch([a, b, c], **SHAPE)
    # conditional and unconditional passes of 4 videos, then of 3 once "rain" left
    assert rows == [4, 4, 4, 4, 3, 3, 3, 3]
    assert isinstance(together[1], GenerationInterrupted)
    assert together[1].steps_done == 2
    assert same(together[0], wan.text_to_video_batch([a], **SHAPE)[0])
    assert same(together[2], wan.text_to_video_batch([c], **SHAPE)[0])


def test_the_renderer_batches_text_to_video_only(wan: WanPipelines):
    renderer = WanRenderer(wan)
    spec = examples.requested(
        model="wan", mode="video", num_frames=5, fps=16, width=64, height=64, steps=2, num_images=1
    ).data.spec
    other = spec.model_copy(update={"prompt": "someone else's", "seed": 77})
    assert renderer.batch_key(spec) == renderer.batch_key(other)
    assert renderer.batch_key(spec.model_copy(update={"num_frames": 9})) != renderer.batch_key(spec)
    files, others = renderer.render_batch(
        [RenderJob(spec, {}, StepHooks()), RenderJob(other, {}, StepHooks())]
    )
    assert [(f.mime_type, f.seed) for f in files + others] == [
        ("video/mp4", spec.seed),
        ("video/mp4", 77),
    ]


def test_first_block_cache_is_applied_and_the_unet_cache_is_not(model_dir: Path):
    cached = WanPipelines.load(str(model_dir), device="cpu", step_cache="first_block")
    assert cached._t2v.transformer.is_cache_enabled
    assert cached.step_cache.startswith("first_block")
    frames = cached.text_to_video(prompt="x", negative_prompt=None, seed=1, **SHAPE)
    assert len(frames) == 5
    deep = WanPipelines.load(str(model_dir), device="cpu", step_cache="deep")
    assert deep.step_cache.startswith("none (deep unsupported")
    assert not deep._t2v.transformer.is_cache_enabled


def test_the_service_loads_its_model_with_the_cache_its_settings_name(model_dir: Path):
    settings = WanSettings(WAN_MODEL=str(model_dir), device="cpu", step_cache="first_block")
    pipelines = WanPipelines.from_settings(settings)
    assert pipelines._t2v.transformer.is_cache_enabled
    assert not pipelines.supports_image_to_video


def test_it_reports_the_dtype_its_weights_really_have(wan: WanPipelines):
    assert (wan.device, wan.dtype) == ("cpu", torch.float32)
