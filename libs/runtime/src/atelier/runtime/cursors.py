"""Opaque keyset cursors: the sort key of the last row a page returned.

Clients pass them back unchanged; anything else is refused as a BadCursor (a 400).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any


class BadCursor(ValueError):
    pass


def encode(*key: datetime | uuid.UUID | int) -> str:
    parts = [part.isoformat() if isinstance(part, datetime) else str(part) for part in key]
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode(cursor: str, *types: type) -> tuple[Any, ...]:
    """The key, each part converted to the type given for it (datetime, uuid.UUID, int)."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != len(types):
            raise ValueError("wrong shape")
        return tuple(_PARSERS[kind](part) for kind, part in zip(types, parts, strict=True))
    except (ValueError, TypeError) as error:
        raise BadCursor("the cursor is not one this API returned") from error


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment


_PARSERS: dict[type, Callable[[str], Any]] = {datetime: _aware, uuid.UUID: uuid.UUID, int: int}
