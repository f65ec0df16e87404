"""Wan jobs into files: H.264 MP4 videos (or one-frame PNGs) with WebP thumbnails,
from text alone, from a start frame, or from a first and a last frame.

Text-to-video jobs of one size, frame count, step count and guidance may share a call (up to
MAX_BATCH_IMAGES videos: one by default, a video keeping the GPU busy on its own); jobs with
frames run alone, one video at a time."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from atelier.contracts.generation import GenerationSpec
from atelier.gpu_wan.pipeline import WAN_FPS, WanPipelines
from atelier.inference.jobs import BadRequest, RenderedFile, RenderJob, RenderResult, only
from atelier.inference.progress import GenerationInterrupted


class WanRenderer:
    model = "wan"
    #: Wan 2.1's 480p videos of 33 frames: MAX_BATCH_IMAGES counts videos of that size.
    native_volume = 832 * 480 * 33

    def __init__(self, pipeline: WanPipelines) -> None:
        self.pipeline = pipeline

    def batch_key(self, spec: GenerationSpec) -> Hashable | None:
        if spec.start_frame is not None:
            return None
        return (spec.mode, spec.width, spec.height, _frames(spec), spec.steps, spec.guidance_scale)

    def render(self, job: RenderJob) -> list[RenderedFile]:
        return only(self.render_batch([job])[0])

    def render_batch(self, jobs: Sequence[RenderJob]) -> list[RenderResult]:
        if len(jobs) == 1 and jobs[0].spec.start_frame is not None:
            return [self._from_frames(jobs[0])]
        spec = jobs[0].spec
        key = self.batch_key(spec)
        if key is None or any(self.batch_key(job.spec) != key for job in jobs):
            raise ValueError("jobs with frames, or of different batch keys, cannot share a call")
        results = self.pipeline.text_to_video_batch(
            [job.batch_part() for job in jobs], num_frames=_frames(spec), **jobs[0].shape
        )
        return [_files(job, result) for job, result in zip(jobs, results, strict=True)]

    def _from_frames(self, job: RenderJob) -> RenderResult:
        """A job with a start frame (and maybe an end frame): its videos one at a time."""
        spec = job.spec
        if not self.pipeline.supports_image_to_video:
            raise BadRequest("this service has no image-to-video model (WAN_I2V_MODEL)")
        if spec.end_frame and not self.pipeline.supports_last_frame:
            raise BadRequest("this image-to-video model cannot take a last frame")
        if not spec.end_frame and self.pipeline.requires_last_frame:
            raise BadRequest("this first-and-last-frame model needs an end_frame")
        last = job.images[spec.end_frame] if spec.end_frame else None
        videos = []
        for index in job.indices:
            arguments = job.arguments(spec.seed + index) | {"num_frames": _frames(spec)}
            try:
                frames = self.pipeline.image_to_video(
                    image=job.images[spec.start_frame], last_image=last, **arguments
                )
            except GenerationInterrupted as stopped:
                return stopped
            videos.append(frames)
        return _files(job, videos)


def _frames(spec: GenerationSpec) -> int:
    return spec.num_frames if spec.mode == "video" and spec.num_frames else 1


def _files(job: RenderJob, result: list | GenerationInterrupted) -> RenderResult:
    if isinstance(result, GenerationInterrupted):
        return result
    spec = job.spec
    return [_file(spec, index, frames) for index, frames in zip(job.indices, result, strict=True)]


def _file(spec: GenerationSpec, index: int, frames: list) -> RenderedFile:
    seed = spec.seed + index
    if spec.mode == "video":
        return RenderedFile.mp4(index, frames, spec.fps or WAN_FPS, seed)
    return RenderedFile.png(index, frames[len(frames) // 2], spec, seed)
