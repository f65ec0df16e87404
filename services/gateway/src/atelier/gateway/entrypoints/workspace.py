"""`/v1/workspace`: the user's temporary workspace (served by the workspace service)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from atelier.contracts import library
from atelier.contracts import workspace as api
from atelier.gateway.entrypoints.dependencies import Cursor, GatewayDep, UserDep
from atelier.gateway.entrypoints.paging import COMMAND_RESPONSES, PageLimit
from atelier.gateway.problems import responses

router = APIRouter(prefix="/v1/workspace", tags=["workspace"], responses=responses(401, 500))


@router.get("/assets", response_model=api.AssetPage, responses=responses(400, 422, 503))
async def list_assets(
    user: UserDep,
    gw: GatewayDep,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> Response:
    """The unexpired workspace, newest job first, with short-lived signed URLs."""
    query = api.ListAssets(user_id=user.id, limit=limit, cursor=cursor)
    return await gw.relay(api.LIST_ASSETS, query)


@router.post("/assets/{asset_id}/save", response_model=api.Saved, responses=COMMAND_RESPONSES)
async def save_asset(
    asset_id: uuid.UUID, user: UserDep, gw: GatewayDep, options: api.SaveOptions | None = None
) -> api.Saved:
    """Save to the library; saving the same asset again returns the same library asset."""
    options = options or api.SaveOptions()
    if options.collection_id is not None:
        ref = library.CollectionRef(user_id=user.id, collection_id=options.collection_id)
        await gw.call(library.CHECK_COLLECTION, ref, library.CollectionRef)  # 404: not the user's
    command = api.SaveAsset(user_id=user.id, asset_id=asset_id, options=options)
    return await gw.call(api.SAVE_ASSET, command, api.Saved)


@router.delete("/assets/{asset_id}", response_model=api.Discarded, responses=COMMAND_RESPONSES)
async def discard_asset(asset_id: uuid.UUID, user: UserDep, gw: GatewayDep) -> api.Discarded:
    """Discard: the row and both objects go. A saved asset is kept (409)."""
    command = api.DiscardAsset(user_id=user.id, asset_id=asset_id)
    return await gw.call(api.DISCARD_ASSET, command, api.Discarded)


@router.post("/clear", response_model=api.Cleared, responses=responses(409, 422, 503))
async def clear(
    user: UserDep, gw: GatewayDep, options: api.ClearOptions | None = None
) -> api.Cleared:
    """Every asset (of one job, or all) not yet in the library is saved, then all leave."""
    command = api.Clear(user_id=user.id, options=options or api.ClearOptions())
    return await gw.call(api.CLEAR, command, api.Cleared)
