"""Valid example events, for tests, benchmarks and documentation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel

from atelier.contracts import library_events as library
from atelier.contracts import storage
from atelier.contracts import webhook_events as webhook
from atelier.contracts import workspace_events as workspace
from atelier.contracts.assets import AssetSnapshot
from atelier.contracts.envelope import Envelope
from atelier.contracts.generation import (
    GeneratedAsset,
    GenerationCancelled,
    GenerationCancelledData,
    GenerationCancelRequested,
    GenerationCancelRequestedData,
    GenerationCompleted,
    GenerationCompletedData,
    GenerationDispatched,
    GenerationDispatchedData,
    GenerationFailed,
    GenerationFailedData,
    GenerationRequested,
    GenerationRequestedData,
    GenerationSpec,
    GenerationStarted,
    GenerationStartedData,
    generated_asset_id,
)
from atelier.contracts.progress import StepProgress
from atelier.contracts.scheduling import estimated_cost

E = TypeVar("E", bound=Envelope)


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


# One example of every event type, with fixed ids and times: the AsyncAPI document shows
# them (so it does not change from one generation to the next), and tests decode them
# with models generated from the published schemas.

#: The user of every catalogue example.
EXAMPLE_USER = uuid.UUID("0b6f6c1e-8a51-4d0e-9b8e-5d4c3b2a1f00")
_EXAMPLE_IDS = uuid.UUID("a3e5b7c9-1d2f-4a6b-8c0d-e2f4a6b8c0d1")
_EXAMPLE_TIME = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def _example_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_EXAMPLE_IDS, name)


def _example(
    event_type: type[E], data: BaseModel, *, source: str, after: Envelope | None = None
) -> E:
    """An event a second after the one that caused it (if any), its ids derived from names."""
    type_name = event_type.model_fields["type"].default
    event_id = _example_id(f"event:{type_name}")
    occurred_at = after.occurred_at + timedelta(seconds=1) if after else _EXAMPLE_TIME
    return event_type(
        event_id=event_id,
        type=type_name,
        schema_version=event_type.SCHEMA_VERSION,
        source=source,
        occurred_at=occurred_at,
        user_id=EXAMPLE_USER,
        correlation_id=after.correlation_id if after else event_id,
        causation_id=after.event_id if after else None,
        data=data,
    )


def every_event() -> list[Envelope]:
    """One valid example of each event type, in `registry.EVENT_TYPES` order, each caused
    by the one before it where the story allows; the same every time."""
    user, job, failed_job, cancelled_job = (
        EXAMPLE_USER,
        _example_id("job"),
        _example_id("failed job"),
        _example_id("cancelled job"),
    )
    job_spec = spec(num_images=1)
    asked = _example(
        GenerationRequested,
        GenerationRequestedData(job_id=job, model="sdxl", spec=job_spec, tier="pro"),
        source="gateway",
    )
    sent = _example(
        GenerationDispatched,
        GenerationDispatchedData(
            job_id=job, model="sdxl", spec=job_spec, tier="pro", cost=estimated_cost(job_spec)
        ),
        source="scheduler",
        after=asked,
    )
    started = _example(
        GenerationStarted,
        GenerationStartedData(job_id=job, model="sdxl", worker_id="gpu-sdxl-0", attempt=1),
        source="gpu-sdxl",
        after=sent,
    )
    file_key = storage.generated_file(user, job, 0, "png")
    thumbnail_key = storage.generated_thumbnail(user, job, 0)
    done = _example(
        GenerationCompleted,
        GenerationCompletedData(
            job_id=job,
            model="sdxl",
            spec=job_spec,
            assets=[
                GeneratedAsset(
                    index=0,
                    asset_type="image",
                    storage_key=file_key,
                    thumbnail_key=thumbnail_key,
                    mime_type="image/png",
                    file_size_bytes=48213,
                    width=job_spec.width,
                    height=job_spec.height,
                    seed=job_spec.seed,
                )
            ],
            worker_id="gpu-sdxl-0",
            inference_seconds=0.84,
            expires_at=_EXAMPLE_TIME + storage.WORKSPACE_RETENTION,
        ),
        source="gpu-sdxl",
        after=started,
    )
    failed = _example(
        GenerationFailed,
        GenerationFailedData(
            job_id=failed_job,
            model="wan",
            reason="the pipeline ran out of memory",
            code="retries_exhausted",
        ),
        source="gpu-wan",
    )
    cancel = _example(
        GenerationCancelRequested,
        GenerationCancelRequestedData(job_id=cancelled_job, model="sdxl"),
        source="gateway",
    )
    cancelled = _example(
        GenerationCancelled,
        GenerationCancelledData(job_id=cancelled_job, model="sdxl", at_step=2),
        source="gpu-sdxl",
        after=cancel,
    )

    asset_id = generated_asset_id(job, 0)
    library_asset_id, copy_id = _example_id("library asset"), _example_id("workspace copy")
    collection_id = _example_id("collection")
    snapshot = AssetSnapshot(
        asset_type="image",
        storage_key=file_key,
        thumbnail_key=thumbnail_key,
        mime_type="image/png",
        file_size_bytes=48213,
        width=job_spec.width,
        height=job_spec.height,
        generation_seed=job_spec.seed,
        original_prompt=job_spec.prompt,
        model_used="sdxl",
        generation_settings={"steps": job_spec.steps, "guidance_scale": job_spec.guidance_scale},
        generated_at=done.occurred_at,
    )
    saved = _example(
        workspace.AssetSaved,
        workspace.AssetSavedData(
            asset_id=asset_id,
            library_asset_id=library_asset_id,
            collection_id=collection_id,
            tags=["lighthouse"],
            asset=snapshot,
        ),
        source="workspace",
        after=done,
    )
    left = workspace.AssetLeftData(
        asset_id=asset_id, storage_key=file_key, thumbnail_key=thumbnail_key
    )
    discarded = _example(workspace.AssetDiscarded, left, source="workspace", after=done)
    left = left.model_copy(update={"library_asset_id": library_asset_id})  # saved first
    removed = _example(workspace.AssetRemoved, left, source="workspace", after=saved)
    expired = _example(workspace.AssetExpired, left, source="workspace", after=saved)
    library_file = storage.library_file(user, library_asset_id, saved.event_id, "png")
    library_thumbnail = storage.library_thumbnail(user, library_asset_id, saved.event_id)
    in_library = snapshot.model_copy(
        update={"storage_key": library_file, "thumbnail_key": library_thumbnail}
    )
    copy = _example(
        library.CopiedToWorkspace,
        library.CopiedToWorkspaceData(
            library_asset_id=library_asset_id, workspace_asset_id=copy_id, asset=in_library
        ),
        source="library",
    )
    added = _example(
        workspace.AssetAdded,
        workspace.AssetAddedData(
            asset_id=copy_id,
            source_library_asset_id=library_asset_id,
            asset=snapshot.model_copy(
                update={
                    "storage_key": storage.workspace_copy(user, copy_id, "png"),
                    "thumbnail_key": storage.workspace_copy_thumbnail(user, copy_id),
                }
            ),
            expires_at=copy.occurred_at + storage.WORKSPACE_RETENTION,
        ),
        source="workspace",
        after=copy,
    )
    deleted = _example(
        library.AssetDeleted,
        library.AssetDeletedData(
            library_asset_id=library_asset_id,
            source_workspace_asset_id=asset_id,
            storage_key=library_file,
            thumbnail_key=library_thumbnail,
        ),
        source="library",
    )
    unsaved = _example(
        workspace.AssetUnsaved,
        workspace.AssetUnsavedData(asset_id=asset_id, library_asset_id=library_asset_id),
        source="workspace",
        after=deleted,
    )
    files_deleted = _example(
        workspace.FilesDeleted,
        workspace.FilesDeletedData(asset_id=asset_id, keys=[file_key, thumbnail_key]),
        source="workspace",
        after=discarded,
    )
    stored = _example(
        library.AssetStored,
        library.AssetStoredData.of_saved(saved.data, in_library),
        source="library",
        after=saved,
    )
    updated = _example(
        library.AssetUpdated,
        library.AssetUpdatedData(
            library_asset_id=library_asset_id,
            changed=["custom_title", "is_favorite"],
            custom_title="Lighthouse at dusk",
            tags=["lighthouse"],
            is_favorite=True,
            collection_id=collection_id,
        ),
        source="library",
    )
    library_files_deleted = _example(
        library.LibraryFilesDeleted,
        library.FilesDeletedData(
            library_asset_id=library_asset_id, keys=[library_file, library_thumbnail]
        ),
        source="library",
        after=deleted,
    )
    collection = library.CollectionDefinedData(
        collection_id=collection_id, name="Coasts", description="Lighthouses and harbours"
    )
    created = _example(library.CollectionCreated, collection, source="library")
    renamed = _example(
        library.CollectionUpdated,
        collection.model_copy(update={"name": "Coastlines"}),
        source="library",
    )
    gone = _example(
        library.CollectionDeleted,
        library.CollectionRefData(collection_id=collection_id),
        source="library",
    )
    webhook_id = _example_id("webhook")
    registered = _example(
        webhook.WebhookRegistered,
        webhook.WebhookRegisteredData(
            webhook_id=webhook_id,
            url="https://hooks.example.com/atelier",
            events=["generation.completed", "library.*"],
            description="Our render farm",
            encrypted_secret="gAAAAABn-an-example-fernet-token",
        ),
        source="webhooks",
    )
    unhooked = _example(
        webhook.WebhookDeleted,
        webhook.WebhookRefData(webhook_id=webhook_id),
        source="webhooks",
        after=registered,
    )
    attempt = webhook.DeliveryAttemptData(
        delivery_id=webhook.delivery_id(webhook_id, done.event_id),
        webhook_id=webhook_id,
        event_id=done.event_id,
        event_type=done.type,
        attempt=1,
        status_code=503,
        error="answered 503",
        attempted_at=done.occurred_at + timedelta(seconds=1),
        next_attempt_at=done.occurred_at + timedelta(seconds=6),
    )
    retrying = _example(webhook.DeliveryRetrying, attempt, source="webhooks", after=done)
    attempt = attempt.model_copy(
        update={"attempt": 2, "status_code": 200, "error": None, "next_attempt_at": None}
    )
    delivered = _example(webhook.DeliverySucceeded, attempt, source="webhooks", after=retrying)
    attempt = attempt.model_copy(
        update={"attempt": 11, "status_code": None, "error": "no answer within 10 s"}
    )
    given_up = _example(webhook.DeliveryFailed, attempt, source="webhooks", after=retrying)
    return [
        asked,
        sent,
        started,
        done,
        failed,
        cancel,
        cancelled,
        saved,
        discarded,
        removed,
        expired,
        added,
        unsaved,
        files_deleted,
        stored,
        updated,
        deleted,
        copy,
        library_files_deleted,
        created,
        renamed,
        gone,
        registered,
        unhooked,
        retrying,
        delivered,
        given_up,
    ]


def progress() -> StepProgress:
    """Step progress of the catalogue's job, as a GPU service reports it on core NATS."""
    return StepProgress(job_id=_example_id("job"), step=2, total=4, percent=50.0)


def dispatched(request: GenerationRequested, tier: str = "free") -> GenerationDispatched:
    """The scheduler's dispatch of `request` (what a GPU worker consumes)."""
    data = GenerationDispatchedData(
        job_id=request.data.job_id,
        model=request.data.model,
        spec=request.data.spec,
        tier=tier,
        cost=estimated_cost(request.data.spec),
    )
    return GenerationDispatched.create(
        source="scheduler", user_id=request.user_id, data=data, causation=request
    )
