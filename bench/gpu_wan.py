"""Wan text-to-video speed through the gpu-wan service's `WanPipelines.text_to_video`.

On a CUDA GPU: the FULL Wan2.1-T2V-1.3B architecture (a 1.42 B parameter transformer, the
UMT5-XXL text encoder of 5.68 B parameters, the Wan VAE; configs written below) with RANDOM
weights, built in memory (nothing is downloaded), in bfloat16 (float16 on GPUs without it) with
the VAE in float32, as `WanPipelines.load` loads a checkpoint. It times one 832x480 video of 33
frames, 30 steps, guidance 5.0 (two transformer passes per step): seconds per video and per
step, peak GPU memory. Baseline: the same call with every attention forced onto PyTorch's
unfused "math" SDPA backend, against the fused (flash / memory-efficient / cuDNN) kernels SDPA
picks by itself. `--compile` (BENCH_COMPILE=1) also times the transformer compiled as the
service's TORCH_COMPILE setting compiles it (`torch.compile(transformer, fullgraph=True)`).
Calls pass a preview sink and a stop check, as the worker does. Random weights change no
kernel, so the speed is the real model's; the frames are noise. Checkpoint loading is not
timed.

Without a GPU: the TINY offline model (`atelier.gpu_wan.tiny_model.build_tiny_wan`, loaded with
`WanPipelines.load`) on the CPU at 64x64, 9 frames, 4 steps; a check of the code path and of
CPU overheads only, not representative of GPU speed. The full model is never built on the CPU.

    python -m bench.gpu_wan [--compile] [--runs N] [--warmup N] [--steps N] [--no-baseline]
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import Report, run_alone
from bench._common import (
    Settings,
    Timing,
    as_served,
    cast_like_from_pretrained,
    default_dtype,
    full_model_line,
    measure,
    mib,
    parameter_count,
    refuse_full_size_on_cpu,
    rss,
    run_on_device,
    table,
    timing_rows,
    transformers_fp32_modules,
    why_cpu,
)

if TYPE_CHECKING:
    import torch
    from diffusers import WanPipeline

    from atelier.gpu_wan.pipeline import WanPipelines

TITLE = "Wan text-to-video (gpu-wan)"
PROMPT = "a paper boat drifting down a rainy street, cinematic, shallow depth of field"
NEGATIVE_PROMPT = "blurry, low quality, static"
GUIDANCE_SCALE = 5.0  # the gateway's Wan presets
SEED = 1234

GPU_WIDTH, GPU_HEIGHT, GPU_FRAMES, GPU_STEPS = 832, 480, 33, 30
CPU_WIDTH, CPU_HEIGHT, CPU_FRAMES, CPU_STEPS = 64, 64, 9, 4

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
        # diffusers builds in float32 and casts what it loads (keeping _keep_in_fp32_modules);
        # transformers builds in the requested dtype.
        transformer = WanTransformer3DModel(**transformer_config)
        cast_like_from_pretrained(transformer, dtype, transformer._keep_in_fp32_modules or [])
        vae = AutoencoderKLWan(**vae_config)
        cast_like_from_pretrained(vae, torch.float32, [])
        with default_dtype(dtype):
            text_encoder = UMT5EncoderModel(UMT5Config(**text_encoder_config, **ids))
        cast_like_from_pretrained(
            text_encoder, dtype, transformers_fp32_modules(text_encoder, dtype)
        )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=UniPCMultistepScheduler(**WAN_SCHEDULER_CONFIG),
        transformer=transformer,
    )


def wrap_like_load(t2v: WanPipeline, device: str, dtype: torch.dtype) -> WanPipelines:
    """A `WanPipelines` around an in-memory pipeline, set up as `WanPipelines.load` sets up
    the one it loads (TF32 matmuls on CUDA, no progress bar, no image-to-video model)."""
    import torch

    from atelier.gpu_wan.pipeline import WanPipelines

    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    t2v.to(device)
    t2v.set_progress_bar_config(disable=True)
    return WanPipelines(t2v, None, device, dtype)


def compile_like_load(t2v: WanPipeline, mode: str | None) -> None:
    """Compile the transformer as `WanPipelines.load(compile_transformer=True)` does (with
    `mode` if given)."""
    import torch

    t2v.transformer = torch.compile(t2v.transformer, mode=mode, fullgraph=True)


def generation(
    pipelines: WanPipelines,
    *,
    width: int,
    height: int,
    frames: int,
    steps: int,
    math_attention: bool = False,
):
    """A `measure` call: one text_to_video() call; with `math_attention`, every
    scaled_dot_product_attention runs on PyTorch's unfused math backend."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def call(on_step) -> None:
        with sdpa_kernel(SDPBackend.MATH) if math_attention else nullcontext():
            pipelines.text_to_video(
                prompt=PROMPT,
                negative_prompt=NEGATIVE_PROMPT,
                num_frames=frames,
                seed=SEED,
                width=width,
                height=height,
                steps=steps,
                guidance_scale=GUIDANCE_SCALE,
                hooks=as_served(on_step),
            )

    return call


def _baseline_line(timings: list[Timing]) -> list[str]:
    fused = next((t for t in timings if "as served" in t.label), None)
    math = next((t for t in timings if "baseline" in t.label), None)
    if fused is None or math is None:
        return []
    return [
        f"- baseline: unfused math attention takes {math.per_item / fused.per_item:.2f}x the "
        "time per video of SDPA's own choice of kernel"
    ]


# -- GPU ----------------------------------------------------------------------------------


def _gpu(settings: Settings) -> str:
    import torch

    from atelier.runtime.accelerator import choose_dtype, module_memory_bytes

    device = settings.device
    dtype = choose_dtype(settings.dtype, device)
    steps = settings.steps or GPU_STEPS
    start = time.perf_counter()
    t2v = build_full_wan(device, dtype)
    pipelines = wrap_like_load(t2v, device, dtype)
    built = time.perf_counter() - start
    counts = {
        "transformer": parameter_count(t2v.transformer),
        "text encoder": parameter_count(t2v.text_encoder),
        "VAE": parameter_count(t2v.vae),
    }
    size = {"width": GPU_WIDTH, "height": GPU_HEIGHT, "frames": GPU_FRAMES, "steps": steps}

    def run(label: str, *, math_attention: bool = False, warmup: int | None = None):
        try:
            return measure(
                label,
                generation(pipelines, math_attention=math_attention, **size),
                items=1,
                steps=steps,
                warmup=settings.warmup if warmup is None else warmup,
                runs=settings.runs,
                device=device,
            )
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            return f"{label}: out of GPU memory"

    results: list[Timing | str] = [run("SDPA (as served)")]
    if settings.baseline:
        results.append(run("math SDPA backend (baseline)", math_attention=True))
    if settings.compile:
        compile_like_load(t2v, settings.compile_mode)
        mode = settings.compile_mode or "default"
        results.append(run(f"SDPA + torch.compile({mode}, fullgraph)", warmup=1))

    timings = [r for r in results if isinstance(r, Timing)]
    headers, rows = timing_rows(timings, "video")
    backend = os.environ.get("DIFFUSERS_ATTN_BACKEND", "native")
    lines = [
        f"Full Wan2.1-T2V-1.3B architecture with **random weights** on {device} "
        f"({torch.cuda.get_device_name()}), {str(dtype).removeprefix('torch.')} (VAE float32): "
        f"{GPU_WIDTH}x{GPU_HEIGHT}, {GPU_FRAMES} frames, {steps} steps, guidance "
        f"{GUIDANCE_SCALE} (two transformer passes per step), UniPC; {settings.warmup} "
        f"warm-up + {settings.runs} timed calls per row; diffusers attention backend "
        f"`{backend}`.",
        "",
        table(headers, rows),
        "",
        full_model_line(counts, module_memory_bytes(t2v), built),
        "- s / step: median gap between consecutive step ends (transformer x2 for CFG + "
        "scheduler); s outside the steps: UMT5 text encoding, VAE decode, PIL conversion",
    ]
    lines += [f"- {r}" for r in results if isinstance(r, str)]
    lines += _baseline_line(timings)
    if settings.compile:
        lines += [
            f"- {t.label}: first call {t.warmup_walls[0]:.1f} s (compiling)"
            for t in timings
            if "compile" in t.label
        ]
    return "\n".join(lines)


# -- CPU ----------------------------------------------------------------------------------


def _cpu(settings: Settings) -> str:
    import torch

    from atelier.gpu_wan.pipeline import WanPipelines
    from atelier.gpu_wan.tiny_model import build_tiny_wan

    steps = settings.steps or CPU_STEPS
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        pipelines = WanPipelines.load(
            str(build_tiny_wan(Path(folder) / "wan")), device="cpu", dtype="float32"
        )
        built = time.perf_counter() - start
    components = pipelines._t2v.components.values()
    params = parameter_count(*(c for c in components if isinstance(c, torch.nn.Module)))
    size = {"width": CPU_WIDTH, "height": CPU_HEIGHT, "frames": CPU_FRAMES, "steps": steps}
    common = {
        "items": 1,
        "steps": steps,
        "warmup": settings.warmup,
        "runs": settings.runs,
        "device": "cpu",
    }
    timings = [measure("tiny, SDPA (as served)", generation(pipelines, **size), **common)]
    if settings.baseline:
        timings.append(
            measure(
                "tiny, math SDPA backend (baseline)",
                generation(pipelines, math_attention=True, **size),
                **common,
            )
        )
    why = why_cpu()
    headers, rows = timing_rows(timings, "video")
    lines = [
        f"{why}, so this times the **tiny configuration on CPU — not representative of GPU "
        f"speed**: the offline tiny Wan T2V ({params / 1e6:.2f} M parameters, loaded with "
        f"`WanPipelines.load`), float32, {CPU_WIDTH}x{CPU_HEIGHT}, {CPU_FRAMES} frames, {steps} "
        f"steps, guidance {GUIDANCE_SCALE}; {settings.warmup} warm-up + {settings.runs} timed "
        f"runs per row, {torch.get_num_threads()} torch thread(s) (BENCH_THREADS). It checks "
        "the code path and "
        "measures the pipeline's fixed overheads, nothing more.",
        "",
        table(headers, rows),
        "",
        f"- built and loaded in {built:.1f} s; RSS after the runs {mib(rss())}",
        "- s / step: median gap between consecutive step ends",
    ]
    lines += _baseline_line(timings)
    if len(timings) == 2:
        lines.append("  (at this size attention is a sliver of the work; expect about 1x)")
    return "\n".join(lines)


def main(report: Report) -> None:
    """Wan text-to-video: full architecture on a GPU, the tiny model on a CPU."""
    run_on_device(report, TITLE, _gpu, _cpu)


if __name__ == "__main__":
    run_alone("gpu_wan", main)
