"""Opaque keyset cursors: the sort key of the last row a page returned.

Clients pass them back unchanged; anything else is refused as a BadCursor, which a
service's RPC answers as a 400 like any other refusal.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from atelier.runtime.rpc import RpcError

Row = TypeVar("Row")


class BadCursor(RpcError):
    def __init__(self, detail: str) -> None:
        super().__init__(400, "Bad cursor", detail)


def encode(*key: datetime | uuid.UUID | int | str) -> str:
    parts = [part.isoformat() if isinstance(part, datetime) else str(part) for part in key]
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode(cursor: str, *types: type) -> tuple[Any, ...]:
    """The key, each part converted to the type given for it (datetime, uuid.UUID, int,
    str)."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != len(types):
            raise ValueError("wrong shape")
        return tuple(_PARSERS[kind](part) for kind, part in zip(types, parts, strict=True))
    except (ValueError, TypeError) as error:
        raise BadCursor("the cursor is not one this API returned") from error


def page(
    rows: Sequence[Row], limit: int, key: Callable[[Row], tuple]
) -> tuple[list[Row], str | None]:
    """Split the `limit + 1` rows a query fetched into the page and the cursor after it
    (None on the last page): `key` gives a row's sort key."""
    shown = list(rows[:limit])
    return shown, encode(*key(shown[-1])) if len(rows) > limit else None


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment


_PARSERS: dict[type, Callable[[str], Any]] = {
    datetime: _aware,
    uuid.UUID: uuid.UUID,
    int: int,
    str: str,
}
