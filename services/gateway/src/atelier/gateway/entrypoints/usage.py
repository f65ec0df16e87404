"""`/v1/usage`: what the user's jobs used, per day, model and quality (the scheduler's
usage projection)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from atelier.contracts import usage
from atelier.gateway.entrypoints.dependencies import Cursor, GatewayDep, UserDep
from atelier.gateway.problems import Problem, responses

router = APIRouter(tags=["usage"], responses=responses(401, 500))

From = Annotated[dt.date | None, Query(alias="from", description="First day (UTC); today")]
To = Annotated[dt.date | None, Query(alias="to", description="Last day (UTC); `from`")]
UsageLimit = Annotated[int, Query(ge=1, le=1000)]


def days(from_day: dt.date | None, to_day: dt.date | None) -> tuple[dt.date, dt.date]:
    """The range asked for, both days included: today by default; 422 naming the field
    when it is backwards or too long."""
    first = from_day or to_day or dt.datetime.now(dt.UTC).date()
    last = to_day or first
    if last < first:
        raise Problem(422, "Invalid request", "to: must not be before from")
    if (last - first).days >= usage.MAX_DAYS:
        raise Problem(422, "Invalid request", f"from: at most {usage.MAX_DAYS} days before to")
    return first, last


@router.get("/v1/usage", response_model=usage.UsagePage, responses=responses(400, 422, 503))
async def my_usage(
    user: UserDep,
    gw: GatewayDep,
    from_day: From = None,
    to_day: To = None,
    limit: UsageLimit = 500,
    cursor: Cursor = None,
) -> usage.UsagePage:
    """Jobs asked for and how they ended, images, videos and their seconds, and GPU seconds,
    per day, model and quality; `totals` sums the page."""
    first, last = days(from_day, to_day)
    query = usage.GetUsage(user_id=user.id, from_day=first, to_day=last, limit=limit, cursor=cursor)
    return await gw.call(usage.GET_USAGE, query, usage.UsagePage)
