"""Opaque keyset cursors for the newest-first listing.

The order is (created_at DESC, job_id DESC, asset_index ASC): newest job first, its
images in their natural order. A cursor is the position of the last row returned.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import NamedTuple


class BadCursor(ValueError):
    pass


class Position(NamedTuple):
    created_at: datetime | None
    job_id: uuid.UUID | None
    asset_index: int | None


def encode(position: Position) -> str:
    created_at, job_id, index = position
    raw = json.dumps([created_at.isoformat(), str(job_id), index]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id, index = json.loads(raw)
        position = Position(datetime.fromisoformat(created_at), uuid.UUID(job_id), int(index))
    except (ValueError, TypeError) as error:
        raise BadCursor("the cursor is not one this API returned") from error
    if position.created_at.tzinfo is None:
        raise BadCursor("the cursor is not one this API returned")
    return position
