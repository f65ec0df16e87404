"""SDXL text-to-image speed through the gpu-sdxl service's `SdxlPipeline.generate`.

One spec (`WORKLOAD`, `rows`) on both paths; only the model and the sizes differ:

- On a CUDA GPU: the FULL SDXL base 1.0 architecture (UNet 2.57 B parameters, both CLIP text
  encoders, the VAE; configs written below from the model's config.json files) with RANDOM
  weights, built in memory (nothing is downloaded) with the per-tensor dtypes
  `from_pretrained` gives, and set up by the service's `SdxlPipeline.of` (what
  `SdxlPipeline.load` does with a checkpoint it has read). 1024x1024, 30 steps, batches 1,
  3 and 6 (the worker's batching across requests makes such calls). Random weights change no
  kernel, so the speed is the real model's; the images are noise. Checkpoint loading is not
  timed.
- Without a GPU: the TINY offline model (`atelier.gpu_sdxl.tiny_model.build_tiny_sdxl`,
  loaded as the service loads its model, by `SdxlPipeline.from_settings`) on the CPU at
  64x64, 4 steps, batches 1 and 3; a check of the code path and of CPU overheads only, not
  representative of GPU speed. The full model is never built on the CPU.

Rows: guidance 7.5 (classifier-free guidance on) at each batch size, as served (seconds per
image and per step, peak memory); a larger batch against batch 1 per image (and images per
second). Baseline: the UNet with diffusers' classic `AttnProcessor` (explicit softmax(QK^T)V)
against the SDPA processor (PyTorch SDPA: flash / memory-efficient kernels) the service runs.
Step caching (BENCH_STEP_CACHE=0 leaves it out): DeepCache as the service's STEP_CACHE=deep
turns it on (a full UNet step every BENCH_STEP_CACHE_INTERVAL, 3), at the first and the last
batch size. `--compile` (BENCH_COMPILE=1) also times the UNet compiled by the service's
`SdxlPipeline.compile`, as its TORCH_COMPILE setting does, at every batch size;
`--channels-last` (BENCH_CHANNELS_LAST=1) sets up the UNet and VAE as its CHANNELS_LAST
setting does; BENCH_DTYPE as its DTYPE. Calls pass a preview sink and a stop check, as the
worker does.

    python -m bench.gpu_sdxl [--compile] [--channels-last] [--runs N] [--steps N] [--no-baseline]
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import Report, run_alone
from bench._common import (
    Settings,
    diffusers_model,
    parameter_count,
    refuse_full_size_on_cpu,
    step_cache_interval,
    step_cache_rows,
    transformers_model,
)
from bench._workload import Model, Row, Size, Workload, build, run_workload, step_cache

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionXLPipeline

    from atelier.gpu_sdxl.pipeline import SdxlPipeline

TITLE = "SDXL text-to-image (gpu-sdxl)"
WORKLOAD = Workload(
    prompt="a lighthouse on a cliff at dusk, oil painting, dramatic clouds",
    negative_prompt="blurry, low quality",
    guidance_scale=7.5,  # the gateway's "high" SDXL preset
    seed=1234,
    gpu=Size(width=1024, height=1024, steps=30, batches=(1, 3, 6)),
    cpu=Size(width=64, height=64, steps=4, batches=(1, 3)),
    step="UNet x2 for CFG + Euler scheduler",
    outside="text encoders, VAE decode, PIL conversion",
    item="image",
    full="Full SDXL base 1.0 architecture with **random weights** (`SdxlPipeline.of`)",
    tiny="the offline tiny SDXL, loaded with `SdxlPipeline.from_settings`",
)

#: stabilityai/stable-diffusion-xl-base-1.0 unet/config.json (keys that differ from, or matter
#: beyond, diffusers' defaults).
UNET_CONFIG: dict[str, Any] = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "block_out_channels": (320, 640, 1280),
    "layers_per_block": 2,
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,  # 6 size/crop ids x 256 + 1280 pooled
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
}

#: vae/config.json
VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,
}

#: text_encoder/config.json: OpenAI CLIP ViT-L/14's text tower.
TEXT_ENCODER_CONFIG: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 768,
}

#: text_encoder_2/config.json: OpenCLIP ViT-bigG/14's text tower, with its projection.
TEXT_ENCODER_2_CONFIG: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 1280,
}


def build_full_sdxl(
    device: str,
    dtype: torch.dtype,
    *,
    seed: int = 0,
    unet_config: dict[str, Any] = UNET_CONFIG,
    vae_config: dict[str, Any] = VAE_CONFIG,
    text_configs: tuple[dict[str, Any], dict[str, Any]] = (
        TEXT_ENCODER_CONFIG,
        TEXT_ENCODER_2_CONFIG,
    ),
) -> StableDiffusionXLPipeline:
    """The SDXL pipeline with random weights, built directly on `device` in `dtype` with the
    per-tensor dtypes `from_pretrained(dtype=...)` would give. Several GB: GPU only."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    from atelier.gpu_sdxl.tiny_model import SDXL_SCHEDULER_CONFIG, write_clip_vocab

    refuse_full_size_on_cpu(device, unet_config is UNET_CONFIG, "SDXL")
    # The tiny model's byte-level tokenizer: its ids fit CLIP's vocabulary, and prompts are
    # padded to 77 tokens either way, so the text encoders do the same work.
    with tempfile.TemporaryDirectory() as vocab_dir:
        write_clip_vocab(Path(vocab_dir))
        tokenizer = CLIPTokenizer.from_pretrained(vocab_dir, model_max_length=77)
        tokenizer_2 = CLIPTokenizer.from_pretrained(vocab_dir, model_max_length=77)
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }

    torch.manual_seed(seed)
    with torch.device(device):
        unet = diffusers_model(UNet2DConditionModel, unet_config, dtype)
        vae = diffusers_model(AutoencoderKL, vae_config, dtype)
        text_encoder = transformers_model(
            lambda: CLIPTextModel(CLIPTextConfig(**text_configs[0], **ids)), dtype
        )
        text_encoder_2 = transformers_model(
            lambda: CLIPTextModelWithProjection(CLIPTextConfig(**text_configs[1], **ids)), dtype
        )
    return StableDiffusionXLPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER_CONFIG),
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )


def load(settings: Settings) -> Model:
    """The model in the service's `SdxlPipeline`: on a GPU the full architecture, built here
    and set up by `SdxlPipeline.of`; on the CPU the tiny model, loaded as the service loads
    its SDXL_MODEL (`SdxlPipeline.from_settings`)."""
    from atelier.gpu_sdxl.config import SdxlSettings
    from atelier.gpu_sdxl.pipeline import SdxlPipeline
    from atelier.gpu_sdxl.tiny_model import build_tiny_sdxl

    def tiny(folder: Path, device: str) -> SdxlPipeline:
        model = str(build_tiny_sdxl(folder / "sdxl"))
        return SdxlPipeline.from_settings(
            SdxlSettings(
                SDXL_MODEL=model,
                device=device,
                dtype=settings.dtype,
                channels_last=settings.channels_last,
            )
        )

    pipeline, built = build(
        settings,
        full=lambda device, dtype: SdxlPipeline.of(
            build_full_sdxl(device, dtype), device, dtype, channels_last=settings.channels_last
        ),
        tiny=tiny,
    )
    text2img = pipeline._text2img
    parts = {
        "UNet": parameter_count(text2img.unet),
        "text encoders": parameter_count(text2img.text_encoder, text2img.text_encoder_2),
        "VAE": parameter_count(text2img.vae),
    }
    detail = ", channels-last UNet and VAE" if settings.channels_last else ""
    return Model(pipeline, parts, built, detail)


def generation(pipeline: SdxlPipeline, size: Size, images: int):
    """A `measure` call: one generate() call of `images` images, as the worker makes it."""

    def call(on_step) -> None:
        pipeline.generate(num_images=images, **WORKLOAD.arguments(size, on_step))

    return call


def classic_attention(pipeline: SdxlPipeline):
    """A setting: the UNet on diffusers' classic `AttnProcessor`, then back on its own."""

    @contextmanager
    def setting() -> Iterator[None]:
        from diffusers.models.attention_processor import AttnProcessor

        unet = pipeline._text2img.unet
        served = unet.attn_processors
        unet.set_attn_processor(AttnProcessor())
        try:
            yield
        finally:
            unet.set_attn_processor(served)

    return setting


def rows(settings: Settings, model: Model, size: Size) -> Iterator[Row]:
    """As served at each batch size (a larger batch against the first), the classic attention
    baseline at the first, step caching at the first and the last, and compiled (last:
    compiling is not undone)."""
    pipeline, first, last = model.pipeline, size.batches[0], size.batches[-1]

    def served(batch: int) -> str:
        return f"SDPA (as served), batch {batch}"

    def row(label: str, batch: int, **options: Any) -> Row:
        call = generation(pipeline, size, batch)
        return Row(label, call, items=batch, steps=size.steps, **options)

    for batch in size.batches:
        yield row(served(batch), batch, versus=served(first) if batch != first else None)
    if settings.baseline:
        label = f"classic AttnProcessor (baseline), batch {first}"
        yield row(label, first, versus=served(first), setting=classic_attention(pipeline))
    if step_cache_rows():
        interval = step_cache_interval()
        for batch in sorted({first, last}):
            label = f"SDPA + DeepCache (STEP_CACHE=deep, every {interval}), batch {batch}"
            cached = step_cache(pipeline, "deep", interval=interval)
            yield row(label, batch, versus=served(batch), setting=cached)
    if settings.compile:
        pipeline.compile(settings.compile_mode)
        how = settings.compile_mode or "as TORCH_COMPILE"
        for batch in size.batches:
            label = f"SDPA + torch.compile ({how}), batch {batch}"
            yield row(label, batch, versus=served(batch), compiles=True)


def main(report: Report) -> None:
    """SDXL text-to-image: full architecture on a GPU, the tiny model on a CPU."""
    run_workload(report, TITLE, WORKLOAD, load, rows)


if __name__ == "__main__":
    run_alone("gpu_sdxl", main)
