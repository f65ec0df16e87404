"""The writes of a batch of events, sent as few statements as their order allows.

A projection describes each event's effect as writes: a SQL statement, its arguments and
the keys of the rows it touches (an asset, a job, a collection). Writes that share a key
keep their order; writes with no key in common touch different rows, so they commute and
may run earlier or later than their neighbours. `Writes` puts each write into the latest
group of the same statement that lies after every earlier write of its keys, and sends
each group with one `executemany`: a rebuild of thousands of events costs a handful of
round trips to PostgreSQL instead of one or more per event. Every write names its scope
(the user whose rows it may touch); a write without keys (one that touches rows found by
a query) is a barrier within its scope: none of the scope's writes moves across it.

Writes must not depend on reading the tables in between: a statement that needs a value
from the tables looks it up itself (a subquery or a CTE).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import asyncpg


class Writes:
    def __init__(self) -> None:
        self._groups: list[tuple[str, list[Sequence[Any]]]] = []
        self._latest_of_sql: dict[str, int] = {}
        self._last_of_key: dict[Hashable, int] = {}
        self._last_of_scope: dict[Hashable, int] = {}
        self._barrier_of_scope: dict[Hashable, int] = {}

    def add(
        self,
        sql: str,
        args: Sequence[Any],
        *,
        scope: Hashable,
        keys: Iterable[Hashable] | None,
    ) -> None:
        """Queue `sql` with `args`. `scope`: whose rows it may touch (a user); `keys`: the
        rows it touches, or None when a query finds them (a barrier within the scope)."""
        barrier = keys is None
        if barrier:  # after everything of the scope so far
            keys, floor = (), self._last_of_scope.get(scope, -1)
        else:
            keys = tuple(keys)
            floor = max(
                [
                    self._barrier_of_scope.get(scope, -1),
                    *(self._last_of_key.get(k, -1) for k in keys),
                ]
            )
        group = self._latest_of_sql.get(sql)
        if group is None or group < floor:
            self._groups.append((sql, []))
            group = self._latest_of_sql[sql] = len(self._groups) - 1
        self._groups[group][1].append(args)
        for key in keys:
            self._last_of_key[key] = group
        if barrier:
            self._barrier_of_scope[scope] = group
        self._last_of_scope[scope] = max(group, self._last_of_scope.get(scope, -1))

    @property
    def statements(self) -> int:
        """How many statements `flush` will send."""
        return len(self._groups)

    async def flush(self, conn: asyncpg.Connection) -> None:
        """Send the queued writes, group by group, in the caller's transaction."""
        groups, self._groups = self._groups, []
        self._latest_of_sql.clear()
        self._last_of_key.clear()
        self._last_of_scope.clear()
        self._barrier_of_scope.clear()
        for sql, rows in groups:
            if len(rows) == 1:
                await conn.execute(sql, *rows[0])
            else:
                await conn.executemany(sql, rows)
