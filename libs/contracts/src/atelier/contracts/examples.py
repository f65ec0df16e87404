"""Valid example events, for tests, benchmarks and documentation."""

from __future__ import annotations

import uuid

from atelier.contracts import storage
from atelier.contracts.generation import (
    GeneratedAsset,
    GenerationCompleted,
    GenerationCompletedData,
    GenerationRequested,
    GenerationRequestedData,
    GenerationSpec,
)


def spec(**overrides: object) -> GenerationSpec:
    values: dict[str, object] = {
        "model": "sdxl",
        "mode": "image",
        "quality": "fast",
        "prompt": "a lighthouse at dusk",
        "num_images": 3,
        "seed": 42,
        "width": 64,
        "height": 64,
        "steps": 4,
        "guidance_scale": 6.0,
    }
    return GenerationSpec.model_validate(values | overrides)


def requested(
    user_id: uuid.UUID | None = None, job_id: uuid.UUID | None = None, **overrides: object
) -> GenerationRequested:
    job_spec = spec(**overrides)
    return GenerationRequested.create(
        source="gateway",
        user_id=user_id or uuid.uuid4(),
        data=GenerationRequestedData(
            job_id=job_id or uuid.uuid4(), model=job_spec.model, spec=job_spec
        ),
    )


def completed(
    user_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    *,
    causation: GenerationRequested | None = None,
    **overrides: object,
) -> GenerationCompleted:
    """A completion as a GPU service reports it (the objects themselves are not written)."""
    request = causation or requested(user_id, job_id, **overrides)
    job_spec = request.data.spec
    assets = [
        GeneratedAsset(
            index=index,
            asset_type="image",
            storage_key=storage.generated_file(request.user_id, request.data.job_id, index, "png"),
            thumbnail_key=storage.generated_thumbnail(request.user_id, request.data.job_id, index),
            mime_type="image/png",
            file_size_bytes=1000 + index,
            width=job_spec.width,
            height=job_spec.height,
            seed=job_spec.seed + index,
        )
        for index in range(job_spec.num_images)
    ]
    return GenerationCompleted.create(
        source="gpu-sdxl",
        user_id=request.user_id,
        causation=request,
        data=GenerationCompletedData(
            job_id=request.data.job_id,
            model=job_spec.model,
            spec=job_spec,
            assets=assets,
            worker_id="example",
            inference_seconds=0.5,
        ),
    )
