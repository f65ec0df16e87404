"""Reading `usage_daily`: a user's days, every user's (administrators), and today's total
(the gateway's quota check)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from atelier.contracts.usage import GetUsage, GetUsageToday, UsagePage, UsageRow, UsageTotals
from atelier.runtime import cursors

_COLUMNS = (
    "user_id, day, model, quality, requested, completed, failed, cancelled, images, videos, "
    "video_seconds, gpu_seconds"
)
#: Rows of the range ($1 … $2), of one user ($3, or every user when null), after the
#: cursor's key ($4 … $7), in key order.
_PAGE = f"""
SELECT {_COLUMNS} FROM usage_daily
WHERE day BETWEEN $1 AND $2 AND ($3::uuid IS NULL OR user_id = $3)
  AND ($4::date IS NULL OR (day, user_id, model, quality) > ($4, $5, $6, $7))
ORDER BY day, user_id, model, quality
LIMIT $8
"""


class UsageQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def usage(self, query: GetUsage) -> UsagePage:
        after: tuple = (None, None, None, None)
        if query.cursor:
            ordinal, user, model, quality = cursors.decode(query.cursor, int, uuid.UUID, str, str)
            after = (dt.date.fromordinal(ordinal), user, model, quality)
        rows = await self.pool.fetch(
            _PAGE, query.from_day, query.to_day, query.user_id, *after, query.limit + 1
        )
        shown, next_cursor = cursors.page(
            rows,
            query.limit,
            lambda r: (r["day"].toordinal(), r["user_id"], r["model"], r["quality"]),
        )
        items = [UsageRow(**dict(row)) for row in shown]
        return UsagePage(items=items, totals=UsageTotals.of(items), next_cursor=next_cursor)

    async def usage_today(self, query: GetUsageToday) -> UsageTotals:
        today = dt.datetime.now(dt.UTC).date()
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM usage_daily WHERE user_id = $1 AND day = $2",
            query.user_id,
            today,
        )
        return UsageTotals.of([UsageRow(**dict(row)) for row in rows])
