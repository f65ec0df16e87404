"""Wan text-to-video speed through the gpu-wan service's `WanPipelines.text_to_video`.

One spec (`WORKLOAD`, `rows`) on both paths; only the model and the sizes differ:

- On a CUDA GPU: the FULL Wan2.1-T2V-1.3B architecture (a 1.42 B parameter transformer, the
  UMT5-XXL text encoder of 5.68 B parameters, the Wan VAE; configs written below) with RANDOM
  weights, built in memory (nothing is downloaded) in bfloat16 (float16 on GPUs without it)
  with the VAE in float32, as `WanPipelines.load` loads a checkpoint, and set up by the
  service's `WanPipelines.of`. One 832x480 video of 33 frames, 30 steps, and one of 81 frames,
  50 steps. Random weights change no kernel, so the speed is the real model's; the frames are
  noise. Checkpoint loading is not timed.
- Without a GPU: the TINY offline model (`atelier.gpu_wan.tiny_model.build_tiny_wan`, loaded
  as the service loads its model, by `WanPipelines.from_settings`) on the CPU at 64x64,
  9 frames (and 17), 4 steps; a check of the code path and of CPU overheads only, not
  representative of GPU speed. The full model is never built on the CPU.

Rows: guidance 5.0 (two transformer passes per step), as served (seconds per video and per
step, peak memory). Baseline: the same call with every attention forced onto PyTorch's
unfused "math" SDPA backend, against the fused (flash / memory-efficient / cuDNN) kernels SDPA
picks by itself. Step caching (BENCH_STEP_CACHE=0 leaves it out): diffusers' First Block
Cache as the service's STEP_CACHE=first_block turns it on (threshold
BENCH_STEP_CACHE_THRESHOLD, 0.05), on the longer video. `--compile` (BENCH_COMPILE=1) also
times the transformer compiled by the service's `WanPipelines.compile`, as its TORCH_COMPILE
setting does. Calls pass a preview sink and a stop check, as the worker does.

    python -m bench.gpu_wan [--compile] [--runs N] [--warmup N] [--steps N] [--no-baseline]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import Report, run_alone
from bench._common import (
    Settings,
    diffusers_model,
    parameter_count,
    refuse_full_size_on_cpu,
    step_cache_rows,
    step_cache_threshold,
    transformers_model,
)
from bench._workload import Model, Row, Size, Workload, build, run_workload, step_cache

if TYPE_CHECKING:
    import torch
    from diffusers import WanPipeline

    from atelier.gpu_wan.pipeline import WanPipelines

TITLE = "Wan text-to-video (gpu-wan)"
WORKLOAD = Workload(
    prompt="a paper boat drifting down a rainy street, cinematic, shallow depth of field",
    negative_prompt="blurry, low quality, static",
    guidance_scale=5.0,  # the gateway's Wan presets
    seed=1234,
    gpu=Size(width=832, height=480, steps=30, frames=33),
    cpu=Size(width=64, height=64, steps=4, frames=9),
    step="transformer x2 for CFG + UniPC scheduler",
    outside="UMT5 text encoding, VAE decode, PIL conversion",
    item="video",
    full="Full Wan2.1-T2V-1.3B architecture with **random weights** (`WanPipelines.of`)",
    tiny="the offline tiny Wan T2V, loaded with `WanPipelines.from_settings`",
)

#: The longer video on each path (BENCH_STEPS overrides its steps too).
LONG = {"gpu": Size(width=832, height=480, steps=50, frames=81), "cpu": Size(64, 64, 4, frames=17)}

#: Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json
TRANSFORMER_CONFIG: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 8960,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "rope_max_seq_len": 1024,
}

#: text_encoder/config.json: google/umt5-xxl's encoder.
TEXT_ENCODER_CONFIG: dict[str, Any] = {
    "vocab_size": 256384,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
    "dropout_rate": 0.1,
    "tie_word_embeddings": False,
}

#: vae/config.json (latents_mean / latents_std: diffusers' defaults, which are Wan 2.1's).
VAE_CONFIG: dict[str, Any] = {
    "base_dim": 96,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
}


def build_full_wan(
    device: str,
    dtype: torch.dtype,
    *,
    seed: int = 0,
    transformer_config: dict[str, Any] = TRANSFORMER_CONFIG,
    text_encoder_config: dict[str, Any] = TEXT_ENCODER_CONFIG,
    vae_config: dict[str, Any] = VAE_CONFIG,
) -> WanPipeline:
    """The Wan 2.1 T2V pipeline with random weights, built directly on `device`: transformer
    and text encoder in `dtype` with the per-tensor dtypes `from_pretrained(dtype=...)` would
    give, the VAE in float32 (as `WanPipelines.load` asks). About 15 GB in bfloat16: GPU only."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    from atelier.gpu_wan.tiny_model import WAN_SCHEDULER_CONFIG, build_wan_tokenizer

    refuse_full_size_on_cpu(device, transformer_config is TRANSFORMER_CONFIG, "Wan")
    # The tiny model's tokenizer: its ids fit UMT5's vocabulary, and prompts are padded to 512
    # tokens either way, so the text encoder does the same work.
    tokenizer = build_wan_tokenizer()
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.pad_token_id,
    }

    torch.manual_seed(seed)
    with torch.device(device):
        transformer = diffusers_model(WanTransformer3DModel, transformer_config, dtype)
        vae = diffusers_model(AutoencoderKLWan, vae_config, torch.float32)
        text_encoder = transformers_model(
            lambda: UMT5EncoderModel(UMT5Config(**text_encoder_config, **ids)), dtype
        )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=UniPCMultistepScheduler(**WAN_SCHEDULER_CONFIG),
        transformer=transformer,
    )


def load(settings: Settings) -> Model:
    """The model in the service's `WanPipelines`: on a GPU the full architecture, built here
    and set up by `WanPipelines.of`; on the CPU the tiny model, loaded as the service loads
    its WAN_MODEL (`WanPipelines.from_settings`)."""
    from atelier.gpu_wan.config import WanSettings
    from atelier.gpu_wan.pipeline import WanPipelines
    from atelier.gpu_wan.tiny_model import build_tiny_wan

    def tiny(folder: Path, device: str) -> WanPipelines:
        model = str(build_tiny_wan(folder / "wan"))
        return WanPipelines.from_settings(
            WanSettings(WAN_MODEL=model, device=device, dtype=settings.dtype)
        )

    pipelines, built = build(
        settings,
        full=lambda device, dtype: WanPipelines.of(
            build_full_wan(device, dtype), device=device, dtype=dtype
        ),
        tiny=tiny,
    )
    t2v = pipelines._t2v
    parts = {
        "transformer": parameter_count(t2v.transformer),
        "text encoder": parameter_count(t2v.text_encoder),
        "VAE": parameter_count(t2v.vae),
    }
    backend = os.environ.get("DIFFUSERS_ATTN_BACKEND", "native")
    return Model(
        pipelines, parts, built, f" (VAE float32), diffusers attention backend `{backend}`"
    )


def generation(pipelines: WanPipelines, size: Size):
    """A `measure` call: one text_to_video() call, as the worker makes it."""

    def call(on_step) -> None:
        pipelines.text_to_video(num_frames=size.frames, **WORKLOAD.arguments(size, on_step))

    return call


def math_attention():
    """A setting: every scaled_dot_product_attention on PyTorch's unfused math backend."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def rows(settings: Settings, model: Model, size: Size) -> Iterator[Row]:
    """As served, the math attention baseline, the longer video with and without step
    caching, and compiled (last: compiling is not undone)."""
    served = f"SDPA (as served), {size.frames} frames, {size.steps} steps"
    long = LONG["gpu" if settings.on_gpu else "cpu"]
    long = replace(long, steps=settings.steps or long.steps)
    served_long = f"SDPA (as served), {long.frames} frames, {long.steps} steps"

    def row(label: str, at: Size = size, **options: Any) -> Row:
        return Row(label, generation(model.pipeline, at), items=1, steps=at.steps, **options)

    yield row(served)
    if settings.baseline:
        yield row("math SDPA backend (baseline)", versus=served, setting=math_attention)
    # the kernels are warm by now: the long video's calls are all timed (each is minutes)
    yield row(served_long, long, warmup=0)
    if step_cache_rows():
        threshold = step_cache_threshold()
        label = f"{served_long} + First Block Cache (threshold {threshold:g})"
        cached = step_cache(model.pipeline, "first_block", threshold=threshold)
        yield row(label, long, versus=served_long, setting=cached, warmup=0)
    if settings.compile:
        model.pipeline.compile(settings.compile_mode)
        how = settings.compile_mode or "as TORCH_COMPILE"
        yield row(f"SDPA + torch.compile ({how})", versus=served, compiles=True)


def main(report: Report) -> None:
    """Wan text-to-video: full architecture on a GPU, the tiny model on a CPU."""
    run_workload(report, TITLE, WORKLOAD, load, rows)


if __name__ == "__main__":
    run_alone("gpu_wan", main)
