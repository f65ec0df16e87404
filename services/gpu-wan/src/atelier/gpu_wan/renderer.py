"""Wan jobs into files: H.264 MP4 videos (or one-frame PNGs) with WebP thumbnails."""

from __future__ import annotations

from atelier.contracts.generation import GenerationSpec
from atelier.gpu_wan.pipeline import WanPipelines
from atelier.runtime.media import encode_mp4, encode_png, webp_thumbnail
from atelier.runtime.worker import RenderedFile, StepCallback


class WanRenderer:
    model = "wan"

    def __init__(self, pipeline: WanPipelines) -> None:
        self.pipeline = pipeline

    def render(self, spec: GenerationSpec, on_step: StepCallback) -> list[RenderedFile]:
        return [self._render_one(spec, index, on_step) for index in range(spec.num_images)]

    def _render_one(self, spec: GenerationSpec, index: int, on_step: StepCallback) -> RenderedFile:
        seed = spec.seed + index
        video = spec.mode == "video"
        frames = self.pipeline.text_to_video(
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            num_frames=spec.num_frames if video else 1,
            seed=seed,
            width=spec.width,
            height=spec.height,
            steps=spec.steps,
            guidance_scale=spec.guidance_scale,
            on_step=on_step,
        )
        middle = frames[len(frames) // 2]
        common = {
            "index": index,
            "thumbnail": webp_thumbnail(middle),
            "width": middle.width,
            "height": middle.height,
            "seed": seed,
        }
        if not video:
            parameters = spec.model_dump(mode="json", exclude={"num_images"}) | {"seed": seed}
            return RenderedFile(
                asset_type="image",
                extension="png",
                mime_type="image/png",
                data=encode_png(middle, parameters),
                **common,
            )
        return RenderedFile(
            asset_type="video",
            extension="mp4",
            mime_type="video/mp4",
            data=encode_mp4(frames, spec.fps),
            duration_seconds=len(frames) / spec.fps,
            **common,
        )
