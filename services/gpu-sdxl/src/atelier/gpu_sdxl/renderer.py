"""SDXL jobs into files: PNGs with their parameters embedded, WebP thumbnails.

Jobs of one size, step count and guidance (and, for img2img, reference mode and strength)
share a call, whoever asked for them; see `batch_key`."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from atelier.contracts.generation import GenerationSpec
from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.inference.jobs import RenderedFile, RenderJob, RenderResult, only
from atelier.inference.progress import GenerationInterrupted


class SdxlRenderer:
    model = "sdxl"
    #: SDXL's native size: MAX_BATCH_IMAGES counts images of 1024x1024.
    native_volume = 1024 * 1024

    def __init__(self, pipeline: SdxlPipeline) -> None:
        self.pipeline = pipeline

    def batch_key(self, spec: GenerationSpec) -> Hashable:
        """Prompts, seeds and source images may differ within a call; nothing else may. A
        negative prompt, or none, is part of the key: SDXL conditions on zeros without one."""
        reference = spec.reference
        return (
            spec.width,
            spec.height,
            spec.steps,
            spec.guidance_scale,
            spec.negative_prompt is None,
            None if reference is None else (reference.mode, reference.strength),
        )

    def render(self, job: RenderJob) -> list[RenderedFile]:
        return only(self.render_batch([job])[0])

    def render_batch(self, jobs: Sequence[RenderJob]) -> list[RenderResult]:
        spec = jobs[0].spec
        if any(self.batch_key(job.spec) != self.batch_key(spec) for job in jobs):
            raise ValueError("jobs of different batch keys cannot share a call")
        shape = jobs[0].shape
        parts = [
            job.batch_part(job.images[job.spec.reference.image] if job.spec.reference else None)
            for job in jobs
        ]
        if spec.reference is None:
            results = self.pipeline.generate_batch(parts, **shape)
        else:
            strength = spec.reference.strength
            results = self.pipeline.img2img_batch(parts, strength=strength, **shape)
        return [_files(job, result) for job, result in zip(jobs, results, strict=True)]


def _files(job: RenderJob, result: list | GenerationInterrupted) -> RenderResult:
    if isinstance(result, GenerationInterrupted):
        return result
    spec = job.spec
    return [
        RenderedFile.png(index, image, spec, seed=spec.seed + index)
        for index, image in zip(job.indices, result, strict=True)
    ]
