"""`/v1/admin`: every user's usage and the whole queue, for administrators (the token's
role claim holds JWT_ADMIN_ROLE); anyone else gets 403. The queue never shows prompts."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from atelier.contracts import scheduling, usage
from atelier.contracts.generation import Model
from atelier.gateway.entrypoints.dependencies import AdminDep, Cursor, GatewayDep
from atelier.gateway.entrypoints.usage import From, To, UsageLimit, days
from atelier.gateway.problems import responses

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=responses(401, 403, 500))


@router.get("/usage", response_model=usage.UsagePage, responses=responses(400, 422, 503))
async def everyones_usage(
    _: AdminDep,
    gw: GatewayDep,
    from_day: From = None,
    to_day: To = None,
    user_id: uuid.UUID | None = None,
    limit: UsageLimit = 500,
    cursor: Cursor = None,
) -> usage.UsagePage:
    """Every user's usage (or one user's), per day, user, model and quality."""
    first, last = days(from_day, to_day)
    query = usage.GetUsage(user_id=user_id, from_day=first, to_day=last, limit=limit, cursor=cursor)
    return await gw.call(usage.GET_USAGE, query, usage.UsagePage)


@router.get("/queue", response_model=scheduling.Queue, responses=responses(422, 503))
async def whole_queue(
    _: AdminDep, gw: GatewayDep, model: Model | None = None, limit: UsageLimit = 100
) -> scheduling.Queue:
    """Per model: jobs waiting, running, the workers' free slots, and the first waiting
    jobs in the fair order (whose, how large; never the prompt)."""
    query = scheduling.GetQueue(model=model, limit=limit)
    return await gw.call(scheduling.QUEUE, query, scheduling.Queue)
