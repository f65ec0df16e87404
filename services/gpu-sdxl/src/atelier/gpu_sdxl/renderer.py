"""SDXL jobs into files: PNGs with their parameters embedded, WebP thumbnails."""

from __future__ import annotations

from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.runtime.media import encode_png, webp_thumbnail
from atelier.runtime.worker import RenderedFile, RenderJob


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
        files = []
        for index, image in enumerate(images):
            seed = spec.seed + index
            parameters = spec.model_dump(mode="json", exclude={"num_images"}) | {"seed": seed}
            files.append(
                RenderedFile(
                    index=index,
                    asset_type="image",
                    extension="png",
                    mime_type="image/png",
                    data=encode_png(image, parameters),
                    thumbnail=webp_thumbnail(image),
                    width=image.width,
                    height=image.height,
                    seed=seed,
                )
            )
        return files
