"""Fakes for unit tests of handlers with no servers (cosmicpython's style)."""

from __future__ import annotations

from atelier.contracts.envelope import Envelope
from atelier.runtime.writes import Writes


class RecordingConnection:
    """Takes the place of an asyncpg connection: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple]] = []

    async def execute(self, sql: str, *args) -> None:
        self.sent.append((" ".join(sql.split()), args))

    async def executemany(self, sql: str, rows) -> None:
        for args in rows:
            await self.execute(sql, *args)


async def statements(projection, *events: Envelope) -> list[tuple[str, tuple]]:
    """What `projection` sends to apply `events`, one statement per row: (SQL, arguments)."""
    writes, conn = Writes(), RecordingConnection()
    for event in events:
        projection.write(event, writes)
    await writes.flush(conn)
    return conn.sent
