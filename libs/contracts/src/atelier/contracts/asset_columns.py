"""How an asset's snapshot is stored: the columns the workspace's and the library's tables
share, said once. Each table adds its own (ids, owner, times); `created_at` is the
snapshot's `generated_at` when a row is read back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atelier.contracts.assets import AssetSnapshot

#: (column, PostgreSQL type) of every field of AssetSnapshot but `generated_at`.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("asset_type", "text NOT NULL CHECK (asset_type IN ('image', 'video'))"),
    ("storage_key", "text NOT NULL"),
    ("thumbnail_key", "text NOT NULL"),
    ("mime_type", "text NOT NULL"),
    ("file_size_bytes", "bigint NOT NULL"),
    ("width", "integer NOT NULL"),
    ("height", "integer NOT NULL"),
    ("duration_seconds", "double precision"),
    ("generation_seed", "bigint NOT NULL"),
    ("original_prompt", "text NOT NULL"),
    ("negative_prompt", "text"),
    ("model_used", "text NOT NULL"),
    ("generation_settings", "jsonb NOT NULL"),
)
NAMES = tuple(name for name, _ in COLUMNS)
#: The columns in a CREATE TABLE, and in a SELECT or an INSERT's column list.
DDL = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS)
LIST = ", ".join(NAMES)


def values(snapshot: AssetSnapshot) -> tuple[Any, ...]:
    """The snapshot's values, in the columns' order (for an INSERT's arguments)."""
    return tuple(getattr(snapshot, name) for name in NAMES)


def snapshot_of(row: Mapping[str, Any]) -> AssetSnapshot:
    """The snapshot a row holds (its `created_at` is when the asset was generated)."""
    return AssetSnapshot(**{name: row[name] for name in NAMES}, generated_at=row["created_at"])
