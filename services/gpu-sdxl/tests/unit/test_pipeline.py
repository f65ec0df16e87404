"""The SDXL pipeline wrapper on the tiny offline model (real architecture, random weights)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPTokenizer

from atelier.gpu_sdxl.pipeline import GenerationInterrupted, SdxlPipeline
from atelier.gpu_sdxl.tiny_model import build_tiny_sdxl
from atelier.inference.progress import StepHooks

PROMPT = "a watercolour fox in the snow"
COMMON = {"width": 64, "height": 64, "steps": 2, "guidance_scale": 5.0}


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def recording(steps: list[tuple[int, int]], **hooks) -> StepHooks:
    """Hooks that note each (done, total) step in `steps`."""
    return StepHooks(on_step=lambda done, total: steps.append((done, total)), **hooks)


def test_tiny_model_is_a_diffusers_folder_and_building_again_is_a_no_op(model_dir: Path):
    for part in ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"):
        assert (model_dir / part).is_dir()
    index = model_dir / "model_index.json"
    before = index.stat().st_mtime_ns
    assert build_tiny_sdxl(model_dir) == model_dir
    assert index.stat().st_mtime_ns == before
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")]


def test_tiny_model_build_is_deterministic(model_dir: Path, tmp_path: Path):
    again = build_tiny_sdxl(tmp_path / "again", seed=0)
    for weights in sorted(model_dir.glob("*/*.safetensors")):
        copy = again / weights.relative_to(model_dir)
        assert (
            hashlib.sha256(copy.read_bytes()).digest()
            == hashlib.sha256(weights.read_bytes()).digest()
        ), weights


def test_tokenizer_takes_any_prompt(model_dir: Path):
    tokenizer = CLIPTokenizer.from_pretrained(model_dir / "tokenizer")
    assert tokenizer.model_max_length == 77
    text = "Ünïcode 猫 🎨, punctuation!"
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.eos_token_id not in ids[1:-1]  # eos doubles as unk: no unknown token
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    assert decoded.replace(" ", "") == text.lower().replace(" ", "")
    assert len(tokenizer(text * 40, truncation=True).input_ids) == 77


def test_load_reports_device_dtype_and_memory(sdxl: SdxlPipeline, model_dir: Path):
    assert sdxl.device == "cpu"
    assert sdxl.dtype is torch.float32
    on_disk = sum(p.stat().st_size for p in model_dir.glob("*/*.safetensors"))
    assert sdxl.memory_bytes == pytest.approx(on_disk, rel=0.05)


def test_generates_a_batch_in_one_call(sdxl: SdxlPipeline):
    images = sdxl.generate(
        prompt=PROMPT, negative_prompt=None, num_images=3, seed=11, **(COMMON | {"steps": 4})
    )
    assert len(images) == 3
    assert all(isinstance(image, Image.Image) for image in images)
    assert all(image.size == (64, 64) and image.mode == "RGB" for image in images)
    assert np.abs(pixels(images[0]) - pixels(images[1])).max() > 0


def test_seeds_make_each_image_reproducible_alone(sdxl: SdxlPipeline):
    first = sdxl.generate(prompt=PROMPT, negative_prompt=None, num_images=2, seed=7, **COMMON)
    again = sdxl.generate(prompt=PROMPT, negative_prompt=None, num_images=2, seed=7, **COMMON)
    alone = sdxl.generate(prompt=PROMPT, negative_prompt=None, num_images=1, seed=8, **COMMON)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(pixels(a), pixels(b))
    # image 1 of the batch (seed 7 + 1) is the image seed 8 makes on its own
    assert np.abs(pixels(alone[0]) - pixels(first[1])).max() <= 1


def test_negative_prompt_is_honoured(sdxl: SdxlPipeline):
    def run(negative: str | None) -> np.ndarray:
        (image,) = sdxl.generate(
            prompt=PROMPT, negative_prompt=negative, num_images=1, seed=3, **COMMON
        )
        return pixels(image)

    assert np.abs(run("blurry, low quality") - run("ugly hands")).max() > 0


def test_should_stop_interrupts_after_the_step(sdxl: SdxlPipeline):
    steps: list[tuple[int, int]] = []
    with pytest.raises(GenerationInterrupted) as caught:
        sdxl.generate(
            prompt=PROMPT,
            negative_prompt=None,
            num_images=2,
            seed=1,
            hooks=recording(steps, should_stop=lambda: len(steps) >= 2),
            **(COMMON | {"steps": 4}),
        )
    assert steps == [(1, 4), (2, 4)]
    assert caught.value.steps_done == 2
    # the pipeline is usable again afterwards
    assert (
        len(sdxl.generate(prompt=PROMPT, negative_prompt=None, num_images=1, seed=1, **COMMON)) == 1
    )


def test_img2img_returns_the_requested_size(sdxl: SdxlPipeline):
    source = Image.new("RGB", (80, 80), (200, 40, 40))
    steps: list[tuple[int, int]] = []
    images = sdxl.img2img(
        image=source,
        strength=0.5,
        prompt=PROMPT,
        negative_prompt="grey",
        num_images=2,
        seed=5,
        hooks=recording(steps),
        **(COMMON | {"width": 96, "steps": 4}),
    )
    assert [image.size for image in images] == [(96, 64), (96, 64)]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]  # 4 steps run, of a schedule of 8


def test_non_square_size(sdxl: SdxlPipeline):
    (image,) = sdxl.generate(
        prompt=PROMPT, negative_prompt=None, num_images=1, seed=2, **(COMMON | {"height": 96})
    )
    assert image.size == (64, 96)


def test_exact_copy_runs_its_few_steps_at_a_tiny_strength(sdxl):
    steps: list[tuple[int, int]] = []
    images = sdxl.img2img(
        image=Image.new("RGB", (64, 64), (200, 40, 40)),
        strength=0.05,
        prompt="a red square",
        negative_prompt=None,
        num_images=1,
        seed=1,
        hooks=recording(steps),
        **(COMMON | {"steps": 6, "guidance_scale": 1.0}),
    )
    assert len(images) == 1
    assert steps[-1] == (6, 6)
