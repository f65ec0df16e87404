"""Decoding events off the wire, and the list of every event type."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter, ValidationError

from atelier.contracts import library_events as library
from atelier.contracts import subjects
from atelier.contracts import webhook_events as webhook
from atelier.contracts import workspace_events as workspace
from atelier.contracts.envelope import Envelope
from atelier.contracts.generation import (
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationCompleted,
    GenerationDispatched,
    GenerationFailed,
    GenerationRequested,
    GenerationStarted,
)

EVENT_TYPES: tuple[type[Envelope], ...] = (
    GenerationRequested,
    GenerationDispatched,
    GenerationStarted,
    GenerationCompleted,
    GenerationFailed,
    GenerationCancelRequested,
    GenerationCancelled,
    workspace.AssetSaved,
    workspace.AssetDiscarded,
    workspace.AssetRemoved,
    workspace.AssetExpired,
    workspace.AssetAdded,
    workspace.AssetUnsaved,
    workspace.FilesDeleted,
    library.AssetStored,
    library.AssetUpdated,
    library.AssetDeleted,
    library.CopiedToWorkspace,
    library.LibraryFilesDeleted,
    library.CollectionCreated,
    library.CollectionUpdated,
    library.CollectionDeleted,
    webhook.WebhookRegistered,
    webhook.WebhookDeleted,
    webhook.DeliveryRetrying,
    webhook.DeliverySucceeded,
    webhook.DeliveryFailed,
)

Event = Annotated[Union[EVENT_TYPES], Field(discriminator="type")]  # noqa: UP007
_ADAPTER: TypeAdapter[Envelope] = TypeAdapter(Event)
_VERSIONS = {cls.model_fields["type"].default: cls.SCHEMA_VERSION for cls in EVENT_TYPES}


class UndecodableEvent(ValueError):
    """A message that is not a valid event of a known type and version: a poison message."""


def decode_event(subject: str, payload: bytes) -> Envelope:
    """Parse and check one message; raises UndecodableEvent with a readable reason."""
    try:
        event = _ADAPTER.validate_json(payload)
    except ValidationError as error:
        raise UndecodableEvent(_summary(error)) from error
    known = _VERSIONS[event.type]
    if event.schema_version != known:
        raise UndecodableEvent(
            f"{event.type} schema_version {event.schema_version} is not {known}, the one known"
        )
    if event.subject != subject:
        raise UndecodableEvent(f"event belongs on {event.subject!r}, arrived on {subject!r}")
    if subjects.user_token_of(subject) != str(event.user_id):
        raise UndecodableEvent("user_id does not match the subject's user")
    return event


def encode_event(event: Envelope) -> bytes:
    return event.model_dump_json().encode()


def _summary(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"
