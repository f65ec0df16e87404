"""PostgreSQL access: one asyncpg pool per service, its tables in the service's schema."""

from __future__ import annotations

import json
import re

import asyncpg

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: What PostgreSQL, or the way to it, raises while the server restarts or a connection
#: breaks (refused, reset, shutting down, starting up, left mid-operation): not a fault
#: of the request. The pool replaces a broken connection on the next acquire, so the
#: caller may simply try again.
CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


#: SQLSTATE classes of errors that the data itself causes, whoever writes it and whenever:
#: data exception (22: e.g. a NUL in text), integrity constraint violation (23), program
#: limit exceeded (54: e.g. an index row too large).
_DATA_ERROR_CLASSES = frozenset({"22", "23", "54"})


def caused_by_data(error: BaseException) -> bool:
    """Whether writing some data failed because of that data (writing it again would fail
    again), rather than because of the connection, the server or the code."""
    if isinstance(error, asyncpg.PostgresError):
        return (error.sqlstate or "")[:2] in _DATA_ERROR_CLASSES
    # asyncpg's own argument encoding errors (e.g. an int beyond int64) are ValueErrors too
    return isinstance(error, ValueError | ArithmeticError)


def identifier(name: str) -> str:
    """A schema or table name safe to put in SQL text (no quoting games)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


async def create_pool(dsn: str, schema: str, *, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified table names in `schema`.

    The schema is created if missing. Resolving by name at query time is what lets a
    rebuilt shadow schema be swapped in under live readers.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")
    finally:
        await conn.close()
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": schema},
        init=_register_json_codecs,
    )


async def _register_json_codecs(conn: asyncpg.Connection) -> None:
    """jsonb columns read and write Python objects."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
