"""Wan jobs into files: H.264 MP4 videos (or one-frame PNGs) with WebP thumbnails,
from text alone, from a start frame, or from a first and a last frame."""

from __future__ import annotations

from atelier.gpu_wan.pipeline import WanPipelines
from atelier.inference.worker import BadRequest, RenderedFile, RenderJob


class WanRenderer:
    model = "wan"

    def __init__(self, pipeline: WanPipelines) -> None:
        self.pipeline = pipeline

    def render(self, job: RenderJob) -> list[RenderedFile]:
        spec = job.spec
        if spec.start_frame and not self.pipeline.supports_image_to_video:
            raise BadRequest("this service has no image-to-video model (WAN_I2V_MODEL)")
        if spec.end_frame and not self.pipeline.supports_last_frame:
            raise BadRequest("this image-to-video model cannot take a last frame")
        if spec.start_frame and not spec.end_frame and self.pipeline.requires_last_frame:
            raise BadRequest("this first-and-last-frame model needs an end_frame")
        return [self._render_one(job, index) for index in range(spec.num_images)]

    def _render_one(self, job: RenderJob, index: int) -> RenderedFile:
        spec, seed = job.spec, job.spec.seed + index
        video = spec.mode == "video"
        arguments = job.arguments(seed) | {"num_frames": spec.num_frames if video else 1}
        if spec.start_frame:
            last = job.images[spec.end_frame] if spec.end_frame else None
            frames = self.pipeline.image_to_video(
                image=job.images[spec.start_frame], last_image=last, **arguments
            )
        else:
            frames = self.pipeline.text_to_video(**arguments)
        if video:
            return RenderedFile.mp4(index, frames, spec.fps, seed)
        return RenderedFile.png(index, frames[len(frames) // 2], spec, seed)
