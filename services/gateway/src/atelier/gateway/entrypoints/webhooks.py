"""`/v1/webhooks`: a user's webhooks and their deliveries (served by the webhooks service).
Deliveries are signed per Standard Webhooks; the secret is shown once, at registration."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from atelier.contracts import webhooks as api
from atelier.gateway.entrypoints.dependencies import Cursor, GatewayDep, UserDep
from atelier.gateway.entrypoints.paging import PageLimit
from atelier.gateway.problems import responses

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=responses(401, 500))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=api.RegisteredWebhook,
    responses=responses(422, 503),
)
async def register_webhook(
    fields: api.WebhookFields, user: UserDep, gw: GatewayDep
) -> api.RegisteredWebhook:
    """POST the events named in `events` to `url`, signed with the `secret` of the answer
    (shown only here). Private, loopback and link-local targets are refused unless the
    operator allows them."""
    command = api.RegisterWebhook(user_id=user.id, fields=fields)
    return await gw.call(api.REGISTER, command, api.RegisteredWebhook)


@router.get("", response_model=api.Webhooks, responses=responses(503))
async def list_webhooks(user: UserDep, gw: GatewayDep) -> api.Webhooks:
    return await gw.call(api.LIST, api.ListWebhooks(user_id=user.id), api.Webhooks)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(404, 422, 503),
)
async def delete_webhook(webhook_id: uuid.UUID, user: UserDep, gw: GatewayDep) -> Response:
    """Nothing more is delivered to it, pending retries included."""
    command = api.WebhookRef(user_id=user.id, webhook_id=webhook_id)
    await gw.call(api.DELETE, command, api.Deleted)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=api.Deliveries,
    responses=responses(400, 404, 422, 503),
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    user: UserDep,
    gw: GatewayDep,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> api.Deliveries:
    """Newest first: each delivery's status, attempts, last answer and next attempt."""
    query = api.ListDeliveries(user_id=user.id, webhook_id=webhook_id, limit=limit, cursor=cursor)
    return await gw.call(api.LIST_DELIVERIES, query, api.Deliveries)
