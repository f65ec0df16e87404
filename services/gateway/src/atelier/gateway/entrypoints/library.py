"""`/v1/library`: the permanent library and its collections (served by the library service)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from atelier.contracts import library as api
from atelier.contracts.assets import Tag
from atelier.contracts.generation import AssetType
from atelier.gateway.entrypoints.dependencies import Cursor, GatewayDep, UserDep
from atelier.gateway.entrypoints.paging import COMMAND_RESPONSES, PageLimit
from atelier.gateway.entrypoints.shared import BaseUrl
from atelier.gateway.problems import Problem, responses

router = APIRouter(prefix="/v1/library", tags=["library"], responses=responses(401, 500))


@router.get("/assets", response_model=api.AssetPage, responses=responses(400, 422, 503))
async def list_assets(
    user: UserDep,
    gw: GatewayDep,
    base: BaseUrl,
    collection_id: uuid.UUID | None = None,
    q: api.SearchText | None = None,
    tag: Tag | None = None,
    favorite: bool | None = None,
    asset_type: AssetType | None = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> api.AssetPage:
    filters = api.AssetFilters(
        collection_id=collection_id, q=q, tag=tag, favorite=favorite, asset_type=asset_type
    )
    query = api.ListAssets(user_id=user.id, filters=filters, limit=limit, cursor=cursor)
    page = await gw.call(api.LIST_ASSETS, query, api.AssetPage)
    return page.model_copy(update={"items": [_linked(item, base) for item in page.items]})


@router.patch("/assets/{asset_id}", response_model=api.LibraryAsset, responses=COMMAND_RESPONSES)
async def update_asset(
    asset_id: uuid.UUID, patch: api.AssetPatch, user: UserDep, gw: GatewayDep, base: BaseUrl
) -> api.LibraryAsset:
    """Change the fields present in the body (title, tags, favourite, visibility, collection).
    `unlisted` or `public` gives the asset a `share_url` anyone may open (`public` also
    lists it in `GET /v1/public/assets`); `private` ends that link for good (sharing again
    makes a new one)."""
    changed = sorted(patch.model_fields_set)
    if not changed:
        raise Problem(422, "Invalid request", "the body names no field to change")
    for field in ("is_favorite", "visibility"):
        if field in changed and getattr(patch, field) is None:
            raise Problem(422, "Invalid request", f"{field} cannot be null")
    command = api.UpdateAsset(
        user_id=user.id, library_asset_id=asset_id, changed=changed, patch=patch
    )
    return _linked(await gw.call(api.UPDATE_ASSET, command, api.LibraryAsset), base)


@router.delete("/assets/{asset_id}", response_model=api.Deleted, responses=COMMAND_RESPONSES)
async def delete_asset(asset_id: uuid.UUID, user: UserDep, gw: GatewayDep) -> api.Deleted:
    command = api.AssetRef(user_id=user.id, library_asset_id=asset_id)
    return await gw.call(api.DELETE_ASSET, command, api.Deleted)


@router.post(
    "/assets/{asset_id}/copy-to-workspace",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=api.CopiedToWorkspace,
    responses=COMMAND_RESPONSES,
)
async def copy_to_workspace(
    asset_id: uuid.UUID, user: UserDep, gw: GatewayDep
) -> api.CopiedToWorkspace:
    """A new workspace asset with the same file; it appears once the copy is made."""
    command = api.AssetRef(user_id=user.id, library_asset_id=asset_id)
    return await gw.call(api.COPY_TO_WORKSPACE, command, api.CopiedToWorkspace)


@router.get("/collections", response_model=api.Collections, responses=responses(503))
async def list_collections(user: UserDep, gw: GatewayDep) -> api.Collections:
    query = api.ListCollections(user_id=user.id)
    return await gw.call(api.LIST_COLLECTIONS, query, api.Collections)


@router.post(
    "/collections",
    status_code=status.HTTP_201_CREATED,
    response_model=api.Collection,
    responses=responses(409, 422, 503),
)
async def create_collection(
    fields: api.CollectionFields, user: UserDep, gw: GatewayDep
) -> api.Collection:
    command = api.CreateCollection(user_id=user.id, fields=fields)
    return await gw.call(api.CREATE_COLLECTION, command, api.Collection)


@router.patch(
    "/collections/{collection_id}", response_model=api.Collection, responses=COMMAND_RESPONSES
)
async def update_collection(
    collection_id: uuid.UUID, patch: api.CollectionPatch, user: UserDep, gw: GatewayDep
) -> api.Collection:
    command = api.UpdateCollection(user_id=user.id, collection_id=collection_id, patch=patch)
    return await gw.call(api.UPDATE_COLLECTION, command, api.Collection)


@router.delete(
    "/collections/{collection_id}", response_model=api.Deleted, responses=COMMAND_RESPONSES
)
async def delete_collection(collection_id: uuid.UUID, user: UserDep, gw: GatewayDep) -> api.Deleted:
    """Its assets stay in the library, outside any collection."""
    command = api.CollectionRef(user_id=user.id, collection_id=collection_id)
    return await gw.call(api.DELETE_COLLECTION, command, api.Deleted)


def _linked(asset: api.LibraryAsset, base: str) -> api.LibraryAsset:
    """The share link as an absolute URL (the library gives its path)."""
    if asset.share_url is None:
        return asset
    return asset.model_copy(update={"share_url": base + asset.share_url})
