"""A tiny, randomly initialised SDXL pipeline of the real architecture, built offline.

No machine here reaches a model hub, so tests and `make up` use this: it is saved with
`save_pretrained` and loaded by the same `StableDiffusionXLPipeline.from_pretrained` call that
loads `stabilityai/stable-diffusion-xl-base-1.0`. Same layout (two CLIP text encoders, the second
with a projection, a text_time UNet, an AutoencoderKL, SDXL's Euler scheduler config), a few MB.

    python -m atelier.gpu_sdxl.tiny_model PATH
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from atelier.inference.models import build_model_dir

#: SDXL base 1.0's scheduler config (scheduler/scheduler_config.json), as EulerDiscreteScheduler.
SDXL_SCHEDULER_CONFIG: dict[str, object] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "interpolation_type": "linear",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}

_HIDDEN = 32  # hidden size of each text encoder; the UNet cross-attends to both, concatenated
_PROJECTION = 32  # text_encoder_2's pooled projection
_TIME_EMBED = 8  # addition_time_embed_dim; 6 size/crop ids -> 6 * 8 + 32 = 80


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE (GPT-2, CLIP) uses for the 256 byte values,
    in the order CLIP's vocabulary lists them."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def write_clip_vocab(directory: Path) -> Path:
    """Write a minimal byte-level BPE `vocab.json` + `merges.txt` for `CLIPTokenizer`: every
    byte symbol, alone and word-final ("</w>"), then the two special tokens. With no merges each
    byte is one token, so any text in any script tokenizes without an unknown token."""
    symbols = _byte_symbols()
    tokens = [*symbols, *(symbol + "</w>" for symbol in symbols)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return directory


def _tiny_components(seed: int, vocab_dir: Path) -> dict[str, object]:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    tokenizer = CLIPTokenizer.from_pretrained(str(vocab_dir), model_max_length=77)
    tokenizer_2 = CLIPTokenizer.from_pretrained(str(vocab_dir), model_max_length=77)

    def text_config(hidden_act: str) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=_HIDDEN,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=5,
            max_position_embeddings=77,
            layer_norm_eps=1e-5,
            hidden_act=hidden_act,
            projection_dim=_PROJECTION,
        )

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        cross_attention_dim=2 * _HIDDEN,
        addition_embed_type="text_time",
        addition_time_embed_dim=_TIME_EMBED,
        projection_class_embeddings_input_dim=6 * _TIME_EMBED + _PROJECTION,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=128,
        scaling_factor=0.13025,
        force_upcast=True,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(text_config("quick_gelu"))
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(text_config("gelu"))
    scheduler = EulerDiscreteScheduler(**SDXL_SCHEDULER_CONFIG)
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "text_encoder_2": text_encoder_2,
        "tokenizer": tokenizer,
        "tokenizer_2": tokenizer_2,
        "scheduler": scheduler,
    }


def build_tiny_sdxl(target: Path, seed: int = 0) -> Path:
    """Build the tiny SDXL pipeline into `target` (a diffusers folder) and return `target`.

    Nothing is done if `target/model_index.json` exists; the folder is built aside and renamed
    into place (`build_model_dir`), so it is never seen half-written. Deterministic given `seed`.
    """

    def build(staging: Path) -> None:
        import torch
        from diffusers import StableDiffusionXLPipeline

        with tempfile.TemporaryDirectory() as vocab_dir, torch.random.fork_rng(devices=[]):
            components = _tiny_components(seed, write_clip_vocab(Path(vocab_dir)))
            pipeline = StableDiffusionXLPipeline(
                **components,
                image_encoder=None,
                feature_extractor=None,
                force_zeros_for_empty_prompt=True,
                add_watermarker=False,
            )
            pipeline.save_pretrained(staging)

    return build_model_dir(target, build)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the tiny offline SDXL pipeline.")
    parser.add_argument("path", type=Path, help="folder to save the pipeline into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_sdxl(args.path, seed=args.seed))


if __name__ == "__main__":
    main()
