"""Several jobs in one SDXL call on the tiny offline model: each makes what it would alone,
a cancelled one leaves the batch at its next step, step caching and VAE tiling, and the
dtype and device the pipeline really holds."""

import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionXLPipeline
from PIL import Image

from atelier.contracts import examples
from atelier.contracts.generation import ImageRef, Reference
from atelier.gpu_sdxl.config import SdxlSettings
from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.inference.jobs import RenderJob
from atelier.inference.pipelines import BatchPart
from atelier.inference.progress import GenerationInterrupted, StepHooks

SHAPE = {"width": 64, "height": 64, "steps": 4, "guidance_scale": 6.0}


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def same(a: list[Image.Image], b: list[Image.Image]) -> bool:
    """Equal up to the rounding a different batch size may cause."""
    return len(a) == len(b) and all(
        np.abs(pixels(x) - pixels(y)).max() <= 1 for x, y in zip(a, b, strict=True)
    )


def unet_rows(pipeline: SdxlPipeline) -> list[int]:
    """The batch size of every UNet call from now on."""
    seen: list[int] = []
    pipeline._text2img.unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append((args[0] if args else kwargs["sample"]).shape[0]),
        with_kwargs=True,
    )
    return seen


PARTS = [
    BatchPart("a fox in the snow", "blurry", seed=1, count=2),
    BatchPart("a lighthouse at dusk", "grey", seed=40, count=1),
    BatchPart("a paper boat", "low quality", seed=7, count=1),
]


def test_jobs_in_one_call_make_what_each_makes_alone(sdxl: SdxlPipeline):
    together = sdxl.generate_batch(PARTS, **SHAPE)
    for part, images in zip(PARTS, together, strict=True):
        assert same(images, sdxl.generate_batch([part], **SHAPE)[0])
    assert np.abs(pixels(together[0][0]) - pixels(together[2][0])).max() > 0


def test_a_cancelled_job_leaves_the_batch_at_its_next_step(model_dir: Path):
    sdxl = SdxlPipeline.load(str(model_dir), device="cpu")
    rows = unet_rows(sdxl)
    steps_of_b: list[int] = []
    b = BatchPart(
        "a lighthouse at dusk",
        "grey",
        seed=40,
        count=1,
        hooks=StepHooks(
            on_step=lambda done, total: steps_of_b.append(done),
            should_stop=lambda: len(steps_of_b) >= 2,
        ),
    )
    a, _, c = PARTS
    together = sdxl.generate_batch([a, b, c], **SHAPE)
    # 4 images (x2 for guidance) for two steps, then 3 once the lighthouse left
    assert rows == [8, 8, 6, 6]
    assert isinstance(together[1], GenerationInterrupted)
    assert together[1].steps_done == 2
    assert same(together[0], sdxl.generate_batch([a], **SHAPE)[0])
    assert same(together[2], sdxl.generate_batch([c], **SHAPE)[0])


def test_when_every_job_is_cancelled_the_call_stops(sdxl: SdxlPipeline):
    stop = StepHooks(should_stop=lambda: True)
    results = sdxl.generate_batch(
        [BatchPart("x", None, 1, hooks=stop), BatchPart("y", None, 2, hooks=stop)], **SHAPE
    )
    assert [r.steps_done for r in results] == [1, 1]
    assert len(sdxl.generate_batch([BatchPart("x", None, 1)], **SHAPE)[0]) == 1


def test_img2img_jobs_share_a_call_each_from_its_own_image(sdxl: SdxlPipeline):
    red, blue = Image.new("RGB", (64, 64), (220, 20, 20)), Image.new("RGB", (80, 64), (20, 20, 220))
    parts = [BatchPart("a", None, 3, 1, image=red), BatchPart("b", None, 5, 2, image=blue)]
    together = sdxl.img2img_batch(parts, strength=0.5, **SHAPE)
    for part, images in zip(parts, together, strict=True):
        assert same(images, sdxl.img2img_batch([part], strength=0.5, **SHAPE)[0])


def test_with_and_without_a_negative_prompt_do_not_mix(sdxl: SdxlPipeline):
    with pytest.raises(ValueError, match="negative prompt"):
        sdxl.generate_batch([BatchPart("a", None, 1), BatchPart("b", "grey", 2)], **SHAPE)


def test_the_renderer_keys_and_files_jobs_and_parts_of_jobs(sdxl: SdxlPipeline):
    renderer = SdxlRenderer(sdxl)
    spec = examples.requested(width=64, height=64, steps=2, num_images=3, seed=100).data.spec
    other = spec.model_copy(update={"prompt": "another user's prompt", "seed": 5})
    assert renderer.batch_key(spec) == renderer.batch_key(other)
    for change in ({"width": 128}, {"steps": 3}, {"guidance_scale": 2.0}, {"negative_prompt": "x"}):
        assert renderer.batch_key(spec.model_copy(update=change)) != renderer.batch_key(spec)
    image = ImageRef(bucket="workspace-temp", key=f"{uuid.uuid4()}/uploads/{uuid.uuid4()}.png")
    ref = Reference(image=image, mode="modify", strength=0.5)
    assert renderer.batch_key(spec.model_copy(update={"reference": ref})) != renderer.batch_key(
        spec
    )
    part = RenderJob(spec=spec, images={}, hooks=StepHooks(), first=1, count=2)
    whole = RenderJob(spec=other, images={}, hooks=StepHooks())
    files, others = renderer.render_batch([part, whole])
    assert [(f.index, f.seed) for f in files] == [(1, 101), (2, 102)]
    assert [(f.index, f.seed) for f in others] == [(0, 5), (1, 6), (2, 7)]


def test_deep_cache_skips_the_inner_unet_on_cached_steps(model_dir: Path, sdxl: SdxlPipeline):
    cached = SdxlPipeline.load(str(model_dir), device="cpu", step_cache="deep")
    assert cached.step_cache.startswith("deep")
    mid_calls: list[int] = []
    cached._text2img.unet.mid_block.register_forward_hook(
        lambda module, args, output: mid_calls.append(1)
    )
    arguments = {"prompt": "a fox", "negative_prompt": None, "seed": 3} | SHAPE | {"steps": 7}
    (fast,) = cached.generate(num_images=1, **arguments)
    (full,) = sdxl.generate(num_images=1, **arguments)
    # the mid block's forward is replaced by a pass-through on cached steps; its hooks still
    # run, so count the real work differently: the cache must have kept features
    assert cached._deep_cache.cached is not None
    assert len(mid_calls) == 7
    assert np.abs(pixels(fast) - pixels(full)).mean() < 25  # close, not equal
    assert np.abs(pixels(fast) - pixels(full)).max() > 0


def test_a_step_cache_the_model_cannot_take_is_reported_and_left_off(model_dir: Path):
    pipeline = SdxlPipeline.load(str(model_dir), device="cpu", step_cache="first_block")
    assert pipeline.step_cache.startswith("none (first_block unsupported")
    assert pipeline._deep_cache is None


def test_the_service_loads_the_step_cache_its_settings_name(model_dir: Path):
    settings = SdxlSettings(
        SDXL_MODEL=str(model_dir), device="cpu", step_cache="deep", step_cache_interval=4
    )
    pipeline = SdxlPipeline.from_settings(settings)
    assert pipeline.step_cache == "deep (a full step every 4)"


def test_the_vae_decodes_in_tiles_above_the_threshold(sdxl: SdxlPipeline):
    vae = sdxl._text2img.vae
    decoded: list[bool] = []
    original = vae.decode

    def spy(*args, **kwargs):
        decoded.append(vae.use_tiling)
        return original(*args, **kwargs)

    vae.decode = spy
    try:
        sdxl.vae_tiling_above = 64 * 64
        sdxl.generate_batch([BatchPart("x", None, 1)], **(SHAPE | {"width": 72, "steps": 1}))
        sdxl.generate_batch([BatchPart("x", None, 1)], **(SHAPE | {"steps": 1}))
    finally:
        vae.decode = original
        sdxl.vae_tiling_above = 1024 * 1024
    assert decoded == [True, False]


def test_it_reports_the_dtype_and_device_its_weights_really_have(model_dir: Path):
    loaded = StableDiffusionXLPipeline.from_pretrained(str(model_dir), dtype=torch.float32)
    asked_half = SdxlPipeline.of(loaded, "cpu", torch.float16)
    assert (asked_half.requested_dtype, asked_half.dtype) == (torch.float16, torch.float32)
    assert asked_half.device == "cpu"
    bf16 = SdxlPipeline.load(str(model_dir), device="cpu", dtype="bfloat16")
    assert bf16.dtype == torch.bfloat16
