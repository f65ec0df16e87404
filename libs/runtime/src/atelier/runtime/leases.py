"""Which partitions of a projection this replica applies: PostgreSQL advisory locks.

Each replica keeps a connection of its own to PostgreSQL and holds on it one advisory
lock per partition it applies, plus a shared "member" lock that says it is there. Every
few seconds it counts the members (`pg_locks`) and takes free partitions up to its fair
share (`ceil(partitions / members)`), or gives back what it holds beyond it while another
member holds less. A replica that dies loses its connection and with it its locks: the
members are one fewer, the shares grow, and the others take its partitions at their next
look. A lease only
divides the work; exactly-once stays with the positions (see atelier.runtime.projection),
so a partition applied twice for a moment still applies each event once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random

import asyncpg

log = logging.getLogger(__name__)


class PartitionLeases:
    def __init__(self, dsn: str, scope: str, partitions: int) -> None:
        """`scope` names the projection (and schema): the locks are taken under it."""
        self.dsn = dsn
        self.partitions = partitions
        digest = hashlib.blake2b(scope.encode(), digest_size=4).digest()
        self._class = int.from_bytes(digest, "big") & 0x7FFFFFFF  # an oid in pg_locks
        self._member = partitions  # the object id of the "member" lock
        self._conn: asyncpg.Connection | None = None
        self.held: frozenset[int] = frozenset()
        # Replicas look at the partitions in orders of their own: fewer collisions.
        self._order = random.sample(range(partitions), partitions)

    async def rebalance(self) -> frozenset[int]:
        """Take or give back partitions towards the fair share; the partitions held now.
        A lost connection means every lock is gone: start again with none."""
        try:
            conn = await self._connection()
            members = await conn.fetchval(
                "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid::int = $1 AND objid::int = $2 AND objsubid = 2 AND granted",
                self._class,
                self._member,
            )
            share = math.ceil(self.partitions / max(members, 1))
            held = set(self.held)
            if len(held) > share and await self._others_waiting(conn):
                for partition in sorted(held, reverse=True)[: len(held) - share]:
                    await conn.execute("SELECT pg_advisory_unlock($1, $2)", self._class, partition)
                    held.discard(partition)
            else:
                for partition in self._order:
                    if len(held) >= share:
                        break
                    if partition not in held and await conn.fetchval(
                        "SELECT pg_try_advisory_lock($1, $2)", self._class, partition
                    ):
                        held.add(partition)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("partition leases lost", extra={"error": repr(error)})
            await self.close()
            held = set()
        if held != self.held:
            log.info("partitions held", extra={"partitions": sorted(held)})
        self.held = frozenset(held)
        return self.held

    async def close(self) -> None:
        """Give every lease back (by closing the connection that holds them)."""
        conn, self._conn, self.held = self._conn, None, frozenset()
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self.held = frozenset()
            self._conn = await asyncpg.connect(self.dsn)
            await self._conn.execute(
                "SELECT pg_advisory_lock_shared($1, $2)", self._class, self._member
            )
        return self._conn

    async def _others_waiting(self, conn: asyncpg.Connection) -> bool:
        """Whether a member holds less than its share (else keep what we hold)."""
        holders = await conn.fetch(
            "SELECT m.pid, count(p.objid) AS held FROM pg_locks m "
            "LEFT JOIN pg_locks p ON p.pid = m.pid AND p.locktype = 'advisory' "
            "AND p.classid::int = $1 AND p.objid::int <> $2 AND p.objsubid = 2 AND p.granted "
            "WHERE m.locktype = 'advisory' AND m.classid::int = $1 AND m.objid::int = $2 "
            "AND m.objsubid = 2 AND m.granted GROUP BY m.pid",
            self._class,
            self._member,
        )
        share = self.partitions // max(len(holders), 1)
        return any(row["held"] < share for row in holders)
