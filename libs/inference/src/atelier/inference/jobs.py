"""What a renderer is given and gives back: render jobs (a job, or a part of one, with its
step hooks) in, encoded files out. The worker, the batching and the warm-up speak this."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from atelier.contracts.generation import AssetType, GenerationSpec, ImageRef
from atelier.inference.media import encode_mp4, encode_png, webp_thumbnail
from atelier.inference.pipelines import BatchPart, CallArguments, CallShape, LoadedPipelines
from atelier.inference.progress import GenerationInterrupted, StepHooks

#: What a PNG's embedded parameters leave out of the spec: the count, and the images the
#: job read (their keys name the owner).
PRIVATE_PARAMETERS = {
    "num_images": True,
    "reference": {"image"},
    "start_frame": True,
    "end_frame": True,
}


class BadRequest(Exception):
    """The job can never succeed as asked (e.g. its reference image is gone)."""


@dataclass(frozen=True)
class RenderedFile:
    """One file a job made, encoded, with its WebP thumbnail."""

    index: int
    asset_type: AssetType
    extension: str
    mime_type: str
    data: bytes
    thumbnail: bytes
    width: int
    height: int
    seed: int
    duration_seconds: float | None = None

    @classmethod
    def png(cls, index: int, image: Image.Image, spec: GenerationSpec, seed: int) -> RenderedFile:
        """A still image: a PNG carrying the job's parameters (with its own seed). Object
        keys are left out: they start with the owner's id, and a shared file is public."""
        parameters = spec.model_dump(mode="json", exclude=PRIVATE_PARAMETERS) | {"seed": seed}
        return cls._encoded(index, seed, "image", "png", encode_png(image, parameters), image)

    @classmethod
    def mp4(cls, index: int, frames: Sequence[Image.Image], fps: int, seed: int) -> RenderedFile:
        """A video: H.264 MP4 of `frames` at `fps`, its middle frame as the thumbnail."""
        data, middle = encode_mp4(frames, fps), frames[len(frames) // 2]
        return cls._encoded(index, seed, "video", "mp4", data, middle, len(frames) / fps)

    @classmethod
    def _encoded(
        cls,
        index: int,
        seed: int,
        asset_type: AssetType,
        extension: str,
        data: bytes,
        shown: Image.Image,
        duration_seconds: float | None = None,
    ) -> RenderedFile:
        """`shown`: the picture its size and thumbnail come from."""
        return cls(
            index=index,
            asset_type=asset_type,
            extension=extension,
            mime_type=f"{asset_type}/{extension}",  # image/png, video/mp4
            data=data,
            thumbnail=webp_thumbnail(shown),
            width=shown.width,
            height=shown.height,
            seed=seed,
            duration_seconds=duration_seconds,
        )


@dataclass(frozen=True)
class RenderJob:
    """What a renderer gets: the spec, its input images decoded, and the step hooks.

    A job too big for one call is rendered in parts: `first` is the index of the part's first
    image (seed + first is its seed) and `count` how many it makes (None: all the rest)."""

    spec: GenerationSpec
    images: Mapping[ImageRef, Image.Image]
    hooks: StepHooks
    first: int = 0
    count: int | None = None

    @property
    def image_count(self) -> int:
        """How many images (or videos) this job, or this part of one, makes."""
        return self.spec.num_images - self.first if self.count is None else self.count

    @property
    def indices(self) -> range:
        """The job's indices of the images this part makes."""
        return range(self.first, self.first + self.image_count)

    def batch_part(self, image: Image.Image | None = None) -> BatchPart:
        """This job's (or part's) share of a batched call: its prompts, the seed of its
        first image, how many it makes, its hooks, and its input image if any."""
        return BatchPart(
            prompt=self.spec.prompt,
            negative_prompt=self.spec.negative_prompt,
            seed=self.spec.seed + self.first,
            count=self.image_count,
            hooks=self.hooks,
            image=image,
        )

    @property
    def shape(self) -> CallShape:
        """What the jobs of one batched call share: size, steps and guidance."""
        spec = self.spec
        return CallShape(
            width=spec.width,
            height=spec.height,
            steps=spec.steps,
            guidance_scale=spec.guidance_scale,
        )

    def arguments(self, seed: int) -> CallArguments:
        """The keyword arguments every pipeline call of this job shares."""
        spec = self.spec
        return CallArguments(
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            seed=seed,
            hooks=self.hooks,
            **self.shape,
        )


#: What a renderer returns for each job of a batch: its files, or how far it got before it
#: was stopped.
RenderResult = list[RenderedFile] | GenerationInterrupted


class Renderer(Protocol):
    """Turns jobs into files. Runs in a worker thread: it may block on the model.

    `render_batch` gets jobs whose `batch_key` is equal (and not None) and renders them in
    one pipeline call, each with its own seeds, hooks and files; a job stopped by its hooks
    gets a `GenerationInterrupted` in its place while the others complete. `render` is one
    job alone (raising `GenerationInterrupted` when stopped)."""

    model: str
    pipeline: LoadedPipelines
    #: Pixels (x frames) of one item at the model's native size: the worker's batch limit
    #: (MAX_BATCH_IMAGES) counts items of this size; larger ones take proportionally more.
    native_volume: int

    def batch_key(self, spec: GenerationSpec) -> Hashable | None:
        """What jobs must share to go in one call; None: this job runs alone."""
        ...

    def render_batch(self, jobs: Sequence[RenderJob]) -> list[RenderResult]: ...

    def render(self, job: RenderJob) -> list[RenderedFile]: ...


def only(result: RenderResult) -> list[RenderedFile]:
    """The files of a job rendered alone; raises the interruption of one that was stopped."""
    if isinstance(result, GenerationInterrupted):
        raise result
    return result


def volume(spec: GenerationSpec) -> int:
    """Pixels x frames of one item of `spec`."""
    return spec.width * spec.height * (spec.num_frames or 1)
