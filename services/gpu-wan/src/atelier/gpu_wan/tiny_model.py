"""Tiny, randomly initialised Wan pipelines of the real architectures, built offline.

No machine here reaches a model hub, so tests and `make up` use these: they are saved with
`save_pretrained` and loaded by the same `from_pretrained` calls that load
`Wan-AI/Wan2.1-T2V-1.3B-Diffusers` and `Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`.

* text-to-video (`build_tiny_wan`): UMT5 text encoder, `AutoencoderKLWan`,
  `WanTransformer3DModel` (16 latent channels in), UniPC flow-matching scheduler.
* image-to-video (`build_tiny_wan_i2v`): the same text encoder, VAE and scheduler (identical
  weights for the same seed, as in the real releases) and a transformer taking 36 channels
  (16 noise + 4 mask + 16 conditioning latents). Wan 2.1 I2V (variant "wan2.1", like
  `Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`) adds a CLIP vision encoder with its image processor
  and image cross-attention; Wan 2.2 I2V A14B (variant "wan2.2", like
  `Wan-AI/Wan2.2-I2V-A14B-Diffusers`) has none but two transformers (noise-level experts).

    python -m atelier.gpu_wan.tiny_model T2V_PATH [--i2v I2V_PATH [--i2v-variant wan2.2]]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from atelier.inference.models import build_model_dir

#: Wan 2.1's scheduler (scheduler/scheduler_config.json of the Diffusers releases; flow_shift
#: 3.0 is the 480p value, 5.0 the 720p one).
WAN_SCHEDULER_CONFIG: dict[str, object] = {
    "num_train_timesteps": 1000,
    "prediction_type": "flow_prediction",
    "use_flow_sigmas": True,
    "flow_shift": 3.0,
    "solver_order": 2,
    "solver_type": "bh2",
    "predict_x0": True,
    "lower_order_final": True,
    "final_sigmas_type": "zero",
    "timestep_spacing": "linspace",
}

_TEXT_DIM = 32  # UMT5 d_model; the transformer's text_dim
_HEADS, _HEAD_DIM = 2, 12
_IMAGE_DIM = 16  # CLIP vision hidden size; the transformer's image_dim
_IMAGE_SIZE = 32  # CLIP vision input size (224 in Wan 2.1 I2V)


def build_wan_tokenizer():
    """A small UMT5-style tokenizer made with the `tokenizers` library: a Unigram model over
    printable ASCII (with and without the "▁" word-start marker) that falls back to the 256
    byte tokens, so any text tokenizes without <unk>; "</s>" is appended, "<pad>" pads.
    Wrapped in transformers' tokenizers backend (`PreTrainedTokenizerFast`), which saves and
    reloads the exact `tokenizer.json`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for code in range(ord("!"), ord("~") + 1):
        vocab += [("▁" + chr(code), -3.0), (chr(code), -3.5)]
    vocab += [(f"<0x{byte:02X}>", -10.0) for byte in range(256)]
    backend = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=True))
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Sequence(
        [decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=512,
        padding_side="right",
    )


def _shared_components(seed: int) -> dict[str, object]:
    """Tokenizer, text encoder, VAE and scheduler: the same for t2v and i2v given the seed."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = build_wan_tokenizer()
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=_TEXT_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=32,
            relative_attention_max_distance=128,
            feed_forward_proj="gated-gelu",
            dropout_rate=0.0,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
        )
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": vae,
        "scheduler": UniPCMultistepScheduler(**WAN_SCHEDULER_CONFIG),
    }


def _transformer(seed: int, *, image_to_video: bool, clip: bool = True):
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=_HEADS,
        attention_head_dim=_HEAD_DIM,
        in_channels=36 if image_to_video else 16,
        out_channels=16,
        text_dim=_TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        image_dim=_IMAGE_DIM if image_to_video and clip else None,
        added_kv_proj_dim=_HEADS * _HEAD_DIM if image_to_video and clip else None,
    )


def build_tiny_wan(target: Path, seed: int = 0) -> Path:
    """Build the tiny Wan 2.1 text-to-video pipeline (`WanPipeline`) into `target` and return
    it; nothing is done if `target/model_index.json` exists. Built aside and renamed into
    place (`build_model_dir`). Deterministic given `seed`."""

    def build(staging: Path) -> None:
        import torch
        from diffusers import WanPipeline

        with torch.random.fork_rng(devices=[]):
            pipeline = WanPipeline(
                **_shared_components(seed), transformer=_transformer(seed, image_to_video=False)
            )
            pipeline.save_pretrained(staging)

    return build_model_dir(target, build)


def build_tiny_wan_i2v(target: Path, seed: int = 0, variant: str = "wan2.1") -> Path:
    """Build a tiny image-to-video pipeline (`WanImageToVideoPipeline`) into `target` and
    return it; same contract as `build_tiny_wan`. Its text encoder, tokenizer and VAE equal
    those `build_tiny_wan` makes with the same seed.

    variant "wan2.1" is Wan 2.1 I2V: a CLIP vision encoder and image processor, and a
    transformer with image cross-attention (`image_dim`, `added_kv_proj_dim`); it cannot take a
    last frame. "wan2.2" is Wan 2.2 I2V A14B: no image encoder, two transformers (high- and
    low-noise experts, `boundary_ratio` 0.9); it takes an optional last frame.
    """
    if variant not in ("wan2.1", "wan2.2"):
        raise ValueError(f"unknown variant {variant!r}: expected wan2.1 or wan2.2")

    def build(staging: Path) -> None:
        import torch
        from diffusers import WanImageToVideoPipeline

        with torch.random.fork_rng(devices=[]):
            components: dict[str, object] = _shared_components(seed)
            if variant == "wan2.1":
                components |= _clip_image_encoder(seed)
                components["transformer"] = _transformer(seed, image_to_video=True)
            else:
                components["transformer"] = _transformer(seed, image_to_video=True, clip=False)
                components["transformer_2"] = _transformer(
                    seed + 1, image_to_video=True, clip=False
                )
                components["boundary_ratio"] = 0.9
            WanImageToVideoPipeline(**components).save_pretrained(staging)

    return build_model_dir(target, build)


def _clip_image_encoder(seed: int) -> dict[str, object]:
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=_IMAGE_DIM,
            intermediate_size=32,
            projection_dim=_IMAGE_DIM,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=_IMAGE_SIZE,
            patch_size=8,
            hidden_act="gelu",
        )
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": _IMAGE_SIZE},
        crop_size={"height": _IMAGE_SIZE, "width": _IMAGE_SIZE},
    )
    return {"image_encoder": image_encoder, "image_processor": image_processor}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny offline Wan pipeline.")
    parser.add_argument("path", type=Path, help="folder to save the pipeline into")
    parser.add_argument("--kind", choices=("t2v", "i2v"), default="t2v")
    parser.add_argument("--variant", choices=("wan2.1", "wan2.2"), default="wan2.2",
                        help="i2v only: wan2.2 takes an optional last frame")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.kind == "t2v":
        print(build_tiny_wan(args.path, seed=args.seed))
    else:
        print(build_tiny_wan_i2v(args.path, seed=args.seed, variant=args.variant))


if __name__ == "__main__":
    main()
