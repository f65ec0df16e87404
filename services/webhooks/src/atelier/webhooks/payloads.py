"""What a delivery sends: the event as on the log, each file key beside a freshly signed
URL of it (`storage_key` → `storage_url`, `thumbnail_key` → `thumbnail_url`), signed per
Standard Webhooks (`standardwebhooks`: `webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook

from atelier.contracts import storage

#: Events whose files are gone by the time they are on the log: their keys get no URL.
_FILES_GONE = ("deleted", "discarded", "removed", "expired", "files_deleted")

Sign = Callable[[str, str], Awaitable[str]]


def message_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` of every attempt of a delivery: receivers dedupe by it."""
    return f"msg_{delivery_id}"


def bucket_of(event_type: str) -> str | None:
    """The bucket an event's file keys are in; None when they are gone already."""
    family, _, name = event_type.partition(".")
    if any(name.endswith(gone) for gone in _FILES_GONE):
        return None
    if family == "library":
        return storage.LIBRARY_BUCKET
    return storage.WORKSPACE_BUCKET


async def with_urls(event: dict[str, Any], sign: Sign) -> dict[str, Any]:
    """`event` with a signed URL beside each file key of its data (sign: bucket, key)."""
    bucket = bucket_of(str(event.get("type", "")))
    if bucket is None:
        return event

    async def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [await walk(item) for item in value]
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for name, item in value.items():
            out[name] = await walk(item)
            if name.endswith("_key") and isinstance(item, str) and item:
                out[f"{name[:-4]}_url"] = await sign(bucket, item)
        return out

    return {**event, "data": await walk(event.get("data", {}))}


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(secret: str, delivery_id: uuid.UUID, at: datetime, body: bytes) -> dict:
    msg_id = message_id(delivery_id)
    return {
        "content-type": "application/json",
        "user-agent": "Atelier-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }
