"""Writes: grouped into few statements, never reordered where order matters."""

from atelier.runtime.writes import Writes


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list]] = []

    async def execute(self, sql, *args):
        self.sent.append((sql, [args]))

    async def executemany(self, sql, rows):
        self.sent.append((sql, list(rows)))


async def flushed(writes: Writes) -> list[tuple[str, list]]:
    conn = Recorder()
    await writes.flush(conn)
    return conn.sent


async def test_writes_of_different_rows_share_one_statement_per_sql():
    writes = Writes()
    for job in ("a", "b", "c"):
        writes.add("INSERT", (job,), scope="u1", keys=[job])
        writes.add("UPDATE", (job,), scope="u1", keys=[job])
    assert await flushed(writes) == [
        ("INSERT", [("a",), ("b",), ("c",)]),
        ("UPDATE", [("a",), ("b",), ("c",)]),
    ]


async def test_a_row_keeps_the_order_of_its_writes():
    writes = Writes()
    writes.add("UPDATE", ("a",), scope="u1", keys=["a"])
    writes.add("INSERT", ("b",), scope="u1", keys=["b"])
    writes.add("UPDATE", ("b",), scope="u1", keys=["b"])  # after b's insert: joins a's update
    writes.add("DELETE", ("a",), scope="u1", keys=["a"])
    writes.add("INSERT", ("a",), scope="u1", keys=["a"])  # after a's delete: a new group
    assert await flushed(writes) == [
        ("UPDATE", [("a",)]),
        ("INSERT", [("b",)]),
        ("UPDATE", [("b",)]),
        ("DELETE", [("a",)]),
        ("INSERT", [("a",)]),
    ]


async def test_a_barrier_orders_its_scope_only():
    writes = Writes()
    writes.add("INSERT", (1,), scope="u1", keys=["x"])
    writes.add("INSERT", (2,), scope="u2", keys=["y"])
    writes.add("CLEAR", ("u1",), scope="u1", keys=None)
    writes.add("UPDATE", (2,), scope="u2", keys=["y"])
    writes.add("INSERT", (3,), scope="u1", keys=["z"])  # after u1's barrier
    writes.add("CLEAR", ("u2",), scope="u2", keys=None)  # after u2's update, not u1's insert
    assert await flushed(writes) == [
        ("INSERT", [(1,), (2,)]),
        ("CLEAR", [("u1",)]),
        ("UPDATE", [(2,)]),
        ("INSERT", [(3,)]),
        ("CLEAR", [("u2",)]),
    ]
    assert writes.statements == 0
