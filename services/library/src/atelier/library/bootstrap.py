"""Composition root of the library service: projection, commands, queries and reactors
over one set of connections."""

from __future__ import annotations

import asyncio

from atelier.contracts import library as api
from atelier.contracts.storage import LIBRARY_BUCKET
from atelier.library import reactors
from atelier.library.commands import LibraryCommands
from atelier.library.config import LibrarySettings
from atelier.library.projection import LibraryProjection
from atelier.library.queries import LibraryQueries
from atelier.library.repository import LibraryRepository
from atelier.runtime.handlers import dispatch
from atelier.runtime.service import live_projection, project_and_react, resources


async def run(settings: LibrarySettings, stop: asyncio.Event) -> None:
    async with resources(
        settings,
        service=api.SERVICE,
        schema=settings.db_schema,
        durables=[reactors.DURABLE],
        bucket=LIBRARY_BUCKET,
    ) as res:
        runner = await live_projection(res, LibraryProjection())
        repository = LibraryRepository(res.pool)
        queries = LibraryQueries(repository, res.objects, settings)
        commands = LibraryCommands(
            res.bus, repository, queries, until_shown=runner.wait_until_shown
        )
        await res.serve(
            [
                (api.LIST_ASSETS, api.ListAssets, queries.list_assets),
                (api.UPDATE_ASSET, api.UpdateAsset, commands.update_asset),
                (api.DELETE_ASSET, api.AssetRef, commands.delete_asset),
                (api.COPY_TO_WORKSPACE, api.AssetRef, commands.copy_to_workspace),
                (api.LOCATE_IMAGE, api.AssetRef, queries.locate_image),
                (api.ASSET_SETTINGS, api.AssetRef, queries.asset_settings),
                (api.SHARED_ASSET, api.SharedAssetRef, queries.shared_asset),
                (api.PUBLIC_ASSETS, api.PublicAssetsQuery, queries.public_assets),
                (api.LOCATE_SHARED_FILE, api.LocateSharedFile, queries.locate_shared_file),
                (api.LIST_COLLECTIONS, api.ListCollections, queries.list_collections),
                (api.CHECK_COLLECTION, api.CollectionRef, commands.check_collection),
                (api.CREATE_COLLECTION, api.CreateCollection, commands.create_collection),
                (api.UPDATE_COLLECTION, api.UpdateCollection, commands.update_collection),
                (api.DELETE_COLLECTION, api.CollectionRef, commands.delete_collection),
            ]
        )
        side_effects = reactors.LibraryReactors(res.bus, res.objects)
        reactions = reactors.consumer_config(), dispatch(reactors.HANDLERS, side_effects)
        await project_and_react(res, stop, runner, reactions)
