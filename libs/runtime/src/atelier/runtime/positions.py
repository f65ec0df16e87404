"""Where a projection stands in the log: one position per partition of users (see
atelier.contracts.partitions), in the projection's own schema, changed in the same
transaction as the rows it applied. A partition's position says: every event of its
users up to this stream sequence is in the tables, and none after it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import asyncpg

DDL = """
CREATE TABLE IF NOT EXISTS projection_positions (
    projection text NOT NULL,
    partition integer NOT NULL,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, partition)
)
"""


async def create(
    conn: asyncpg.Connection, projection: str, partitions: int, former_names: Sequence[str]
) -> None:
    """The positions of every partition (in the current search_path), if missing: 0, or
    where the projection stood under an earlier name or before it had partitions (the
    single row of `projection_tracking`), so an upgrade applies nothing twice."""
    await conn.execute(DDL)
    earlier = 0
    if await conn.fetchval("SELECT to_regclass('projection_tracking') IS NOT NULL"):
        earlier = await conn.fetchval(
            "SELECT coalesce(max(position), 0) FROM projection_tracking WHERE projection = ANY($1)",
            [projection, *former_names],
        )
    await conn.execute(
        "INSERT INTO projection_positions (projection, partition, position) "
        "SELECT $1, p, $3 FROM generate_series(0, $2 - 1) p ON CONFLICT DO NOTHING",
        projection,
        partitions,
        earlier,
    )


async def locked(
    conn: asyncpg.Connection, projection: str, partitions: Collection[int]
) -> dict[int, int]:
    """The partitions' positions, locked for the caller's transaction (in one order, so
    two transactions never wait for each other's rows in a cycle)."""
    rows = await conn.fetch(
        "SELECT partition, position FROM projection_positions "
        "WHERE projection = $1 AND partition = ANY($2) ORDER BY partition FOR UPDATE",
        projection,
        sorted(partitions),
    )
    return {row["partition"]: row["position"] for row in rows}


async def advance(conn: asyncpg.Connection, projection: str, positions: Mapping[int, int]) -> None:
    """Move partitions forward to the given positions (never back)."""
    await conn.executemany(
        "UPDATE projection_positions SET position = $3, updated_at = now() "
        "WHERE projection = $1 AND partition = $2 AND position < $3",
        [(projection, partition, position) for partition, position in positions.items()],
    )


async def lowest(
    conn: asyncpg.Connection, projection: str, partitions: Collection[int] | None = None
) -> int:
    """The position every one of the partitions (all by default) has reached."""
    return await conn.fetchval(
        "SELECT coalesce(min(position), 0) FROM projection_positions "
        "WHERE projection = $1 AND ($2::int[] IS NULL OR partition = ANY($2))",
        projection,
        None if partitions is None else sorted(partitions),
    )
