"""SDXL jobs into files: PNGs with their parameters embedded, WebP thumbnails."""

from __future__ import annotations

from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.inference.worker import RenderedFile, RenderJob


class SdxlRenderer:
    model = "sdxl"

    def __init__(self, pipeline: SdxlPipeline) -> None:
        self.pipeline = pipeline

    def render(self, job: RenderJob) -> list[RenderedFile]:
        spec = job.spec
        arguments = job.arguments(spec.seed) | {"num_images": spec.num_images}
        if spec.reference is None:
            images = self.pipeline.generate(**arguments)
        else:
            reference = job.images[spec.reference.image]
            images = self.pipeline.img2img(
                image=reference, strength=spec.reference.strength, **arguments
            )
        return [
            RenderedFile.png(index, image, spec, seed=spec.seed + index)
            for index, image in enumerate(images)
        ]
