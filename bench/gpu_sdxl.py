"""SDXL text-to-image speed through the gpu-sdxl service's `SdxlPipeline.generate`.

On a CUDA GPU: the FULL SDXL base 1.0 architecture (UNet 2.57 B parameters, both CLIP text
encoders, the VAE; configs written below from the model's config.json files) with RANDOM
weights, built in memory (nothing is downloaded), in bfloat16 (float16 on GPUs without it),
prepared as `SdxlPipeline.load` prepares a checkpoint it loads. It times 1024x1024, 30 steps,
guidance 7.5 (classifier-free guidance on) at batch 1 and batch 2: seconds per image and per
step, peak GPU memory. Baseline: the UNet with diffusers' classic `AttnProcessor` (explicit
softmax(QK^T)V) against the `AttnProcessor2_0` (PyTorch SDPA: flash / memory-efficient
kernels) the service installs. `--compile` (BENCH_COMPILE=1) also times the UNet compiled as
the service's TORCH_COMPILE setting compiles it (`torch.compile(unet, mode="max-autotune",
fullgraph=True)`); `--channels-last` (BENCH_CHANNELS_LAST=1) sets up the UNet and VAE as its
CHANNELS_LAST setting does. Calls pass a preview sink and a stop check, as the worker does.
Random weights change no kernel, so the speed is the real model's; the images are noise.
Checkpoint loading is not timed.

Without a GPU: the TINY offline model (`atelier.gpu_sdxl.tiny_model.build_tiny_sdxl`, loaded
with `SdxlPipeline.load`) on the CPU at 64x64, 4 steps, 3 images; a check of the code path and
of CPU overheads only, not representative of GPU speed. The full model is never built on the
CPU. Baseline: one batched call of 3 images against 3 calls of 1 image.

    python -m bench.gpu_sdxl [--compile] [--channels-last] [--runs N] [--steps N] [--no-baseline]
"""

from __future__ import annotations

import tempfile
import time
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
    from diffusers import StableDiffusionXLPipeline

    from atelier.gpu_sdxl.pipeline import SdxlPipeline

TITLE = "SDXL text-to-image (gpu-sdxl)"
PROMPT = "a lighthouse on a cliff at dusk, oil painting, dramatic clouds"
NEGATIVE_PROMPT = "blurry, low quality"
GUIDANCE_SCALE = 7.5  # the gateway's "high" SDXL preset
SEED = 1234

GPU_SIZE, GPU_STEPS, GPU_BATCHES = 1024, 30, (1, 2)
CPU_SIZE, CPU_STEPS, CPU_IMAGES = 64, 4, 3

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
        # diffusers builds in float32 and casts what it loads (keeping _keep_in_fp32_modules);
        # transformers builds in the requested dtype.
        unet = UNet2DConditionModel(**unet_config)
        cast_like_from_pretrained(unet, dtype, unet._keep_in_fp32_modules or [])
        vae = AutoencoderKL(**vae_config)
        cast_like_from_pretrained(vae, dtype, vae._keep_in_fp32_modules or [])
        with default_dtype(dtype):
            text_encoder = CLIPTextModel(CLIPTextConfig(**text_configs[0], **ids))
            text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_configs[1], **ids))
        for encoder in (text_encoder, text_encoder_2):
            cast_like_from_pretrained(encoder, dtype, transformers_fp32_modules(encoder, dtype))
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


def wrap_like_load(
    text2img: StableDiffusionXLPipeline, device: str, *, channels_last: bool = False
) -> SdxlPipeline:
    """An `SdxlPipeline` around an in-memory pipeline, set up as `SdxlPipeline.load` sets up
    the one it loads (TF32 matmuls and the SDPA attention processor on CUDA, channels-last
    memory if asked, no progress bar, an img2img pipeline sharing the weights); compiling is
    left to `compile_like_load`, after the eager runs."""
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from diffusers.models.attention_processor import AttnProcessor2_0

    from atelier.gpu_sdxl.pipeline import SdxlPipeline

    text2img.to(device)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        text2img.unet.set_attn_processor(AttnProcessor2_0())
    if channels_last:
        text2img.unet.to(memory_format=torch.channels_last)
        text2img.vae.to(memory_format=torch.channels_last)
    text2img.set_progress_bar_config(disable=True)
    img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(text2img)
    img2img.set_progress_bar_config(disable=True)
    return SdxlPipeline(text2img, img2img, device, text2img.unet.dtype)


def compile_like_load(text2img: StableDiffusionXLPipeline, mode: str | None) -> None:
    """Compile the UNet as `SdxlPipeline.load(compile_unet=True)` does (`mode` instead of
    max-autotune if given)."""
    import torch

    text2img.unet = torch.compile(text2img.unet, mode=mode or "max-autotune", fullgraph=True)


def generation(pipeline: SdxlPipeline, *, images: int, size: int, steps: int, calls: int = 1):
    """A `measure` call: `calls` generate() calls of `images` images each (seeds SEED + i)."""

    def call(on_step) -> None:
        for index in range(calls):
            pipeline.generate(
                prompt=PROMPT,
                negative_prompt=NEGATIVE_PROMPT,
                num_images=images,
                seed=SEED + index * images,
                width=size,
                height=size,
                steps=steps,
                guidance_scale=GUIDANCE_SCALE,
                hooks=as_served(on_step),
            )

    return call


# -- GPU ----------------------------------------------------------------------------------


def _gpu(settings: Settings) -> str:
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    from atelier.runtime.accelerator import choose_dtype, module_memory_bytes

    device = settings.device
    dtype = choose_dtype(settings.dtype, device)
    steps = settings.steps or GPU_STEPS
    start = time.perf_counter()
    text2img = build_full_sdxl(device, dtype)
    pipeline = wrap_like_load(text2img, device, channels_last=settings.channels_last)
    built = time.perf_counter() - start
    unet = text2img.unet
    counts = {
        "UNet": parameter_count(unet),
        "text encoders": parameter_count(text2img.text_encoder, text2img.text_encoder_2),
        "VAE": parameter_count(text2img.vae),
    }

    def run(label: str, batch: int, warmup: int | None = None) -> Timing | str:
        try:
            return measure(
                label,
                generation(pipeline, images=batch, size=GPU_SIZE, steps=steps),
                items=batch,
                steps=steps,
                warmup=settings.warmup if warmup is None else warmup,
                runs=settings.runs,
                device=device,
            )
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            return f"{label}: out of GPU memory"

    results: list[Timing | str] = [
        run(f"SDPA (as served), batch {batch}", batch) for batch in GPU_BATCHES
    ]
    baseline: Timing | str | None = None
    if settings.baseline:
        unet.set_attn_processor(AttnProcessor())
        baseline = run("classic AttnProcessor (baseline), batch 1", 1)
        unet.set_attn_processor(AttnProcessor2_0())
        results.append(baseline)
    if settings.compile:
        compile_like_load(text2img, settings.compile_mode)
        mode = settings.compile_mode or "max-autotune"
        results += [
            run(f"SDPA + torch.compile({mode}, fullgraph), batch {batch}", batch, 1)
            for batch in GPU_BATCHES
        ]

    timings = [r for r in results if isinstance(r, Timing)]
    headers, rows = timing_rows(timings, "image")
    lines = [
        f"Full SDXL base 1.0 architecture with **random weights** on {device} "
        f"({torch.cuda.get_device_name()}), {str(dtype).removeprefix('torch.')}"
        f"{', channels-last UNet and VAE' if settings.channels_last else ''}: "
        f"{GPU_SIZE}x{GPU_SIZE}, {steps} steps, guidance {GUIDANCE_SCALE} (CFG doubles the "
        f"UNet batch), Euler; {settings.warmup} warm-up + {settings.runs} timed calls per row.",
        "",
        table(headers, rows),
        "",
        full_model_line(counts, module_memory_bytes(text2img), built),
        "- s / step: median gap between consecutive step ends (UNet x2 for CFG + scheduler); "
        "s outside the steps: text encoders, VAE decode, PIL conversion",
    ]
    lines += [f"- {r}" for r in results if isinstance(r, str)]
    sdpa = results[0]
    if isinstance(baseline, Timing) and isinstance(sdpa, Timing):
        lines.append(
            f"- baseline: classic attention takes {baseline.per_item / sdpa.per_item:.2f}x the "
            "time per image of SDPA at batch 1"
        )
    if settings.compile:
        compiled = [t for t in timings if "compile" in t.label]
        lines += [
            f"- {t.label}: first call {t.warmup_walls[0]:.1f} s (compiling; a new batch size "
            "recompiles)"
            for t in compiled
        ]
    return "\n".join(lines)


# -- CPU ----------------------------------------------------------------------------------


def _cpu(settings: Settings) -> str:
    import torch

    from atelier.gpu_sdxl.pipeline import SdxlPipeline
    from atelier.gpu_sdxl.tiny_model import build_tiny_sdxl

    steps = settings.steps or CPU_STEPS
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        pipeline = SdxlPipeline.load(
            str(build_tiny_sdxl(Path(folder) / "sdxl")), device="cpu", dtype="float32"
        )
        built = time.perf_counter() - start
    components = pipeline._text2img.components.values()
    params = parameter_count(*(c for c in components if isinstance(c, torch.nn.Module)))
    common = {"warmup": settings.warmup, "runs": settings.runs, "device": "cpu"}
    batched = measure(
        f"tiny, {CPU_IMAGES} images in one call",
        generation(pipeline, images=CPU_IMAGES, size=CPU_SIZE, steps=steps),
        items=CPU_IMAGES,
        steps=steps,
        **common,
    )
    timings = [batched]
    if settings.baseline:
        timings.append(
            measure(
                f"tiny, {CPU_IMAGES} calls of 1 image (baseline)",
                generation(pipeline, images=1, size=CPU_SIZE, steps=steps, calls=CPU_IMAGES),
                items=CPU_IMAGES,
                steps=steps * CPU_IMAGES,
                **common,
            )
        )
    why = why_cpu()
    headers, rows = timing_rows(timings, "image")
    lines = [
        f"{why}, so this times the **tiny configuration on CPU — not representative of GPU "
        f"speed**: the offline tiny SDXL ({params / 1e6:.2f} M parameters, loaded with "
        f"`SdxlPipeline.load`), float32, {CPU_SIZE}x{CPU_SIZE}, {steps} steps, guidance "
        f"{GUIDANCE_SCALE}, {CPU_IMAGES} images; {settings.warmup} warm-up + {settings.runs} "
        f"timed runs per row, {torch.get_num_threads()} torch thread(s) (BENCH_THREADS). It "
        "checks the code path and measures the pipeline's fixed overheads, nothing more.",
        "",
        table(headers, rows),
        "",
        f"- built and loaded in {built:.1f} s; RSS after the runs {mib(rss())}",
        "- s / step: median gap between consecutive step ends within a call",
    ]
    if len(timings) == 2:
        ratio = timings[1].per_item / batched.per_item
        lines.append(
            f"- baseline: {CPU_IMAGES} separate calls take {ratio:.2f}x the time of one batched "
            f"call of {CPU_IMAGES} images"
        )
    return "\n".join(lines)


def main(report: Report) -> None:
    """SDXL text-to-image: full architecture on a GPU, the tiny model on a CPU."""
    run_on_device(report, TITLE, _gpu, _cpu)


if __name__ == "__main__":
    run_alone("gpu_sdxl", main)
