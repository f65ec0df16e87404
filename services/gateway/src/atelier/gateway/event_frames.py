"""One log event as a Server-Sent Events frame: `id` its stream sequence, `event` its
type, `data` the event as JSON, with signed thumbnail URLs for a completed generation's
assets (so a browser shows them without another request)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from atelier.contracts import storage
from atelier.contracts.generation import GenerationCompleted, generated_asset_id
from atelier.contracts.registry import UndecodableEvent, decode_event
from atelier.contracts.webhook_events import WebhookRegistered
from atelier.runtime import tracing
from atelier.runtime.objects import ObjectStore


@dataclass(frozen=True, slots=True)
class Frame:
    """What one stream sends: an event of the log (with its subject and sequence, so
    the stream can wait for the tables and drop a repeat) or ephemeral progress."""

    text: str
    subject: str | None = None
    sequence: int | None = None


@dataclass(frozen=True)
class EventFrames:
    objects: ObjectStore
    thumbnail_url_seconds: int

    async def __call__(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, sequence: int
    ) -> Frame:
        try:
            event = decode_event(subject, data)
        except UndecodableEvent:
            text = f"id: {sequence}\n: an event this gateway cannot read was skipped\n\n"
            return Frame(text, subject, sequence)
        with tracing.process_span(event.type, subject, headers, group="sse", operation="deliver"):
            body = json.loads(data)
            if isinstance(event, WebhookRegistered):  # even encrypted, the secret stays home
                body["data"].pop("encrypted_secret", None)
            if isinstance(event, GenerationCompleted):
                body["assets"] = [
                    {
                        "id": str(generated_asset_id(event.data.job_id, asset.index)),
                        "index": asset.index,
                        "thumbnail_url": await self.objects.presign_get(
                            storage.WORKSPACE_BUCKET,
                            asset.thumbnail_key,
                            self.thumbnail_url_seconds,
                        ),
                    }
                    for asset in event.data.assets
                ]
        text = f"id: {sequence}\nevent: {event.type}\ndata: {json.dumps(body)}\n\n"
        return Frame(text, subject, sequence)


def progress_frame(data: bytes) -> Frame:
    return Frame(f"event: generation.progress\ndata: {data.decode()}\n\n")
