"""The library projection's writes for each example event, with no database."""

import uuid

from atelier.contracts import asset_columns
from atelier.contracts import library_events as events
from atelier.library.projection import STORE_ASSET, LibraryProjection
from services.library.tests.unit.examples import ASSET, ROW, STORED, USER
from tests.fakes import statements

projection = LibraryProjection()
COLLECTION = uuid.uuid4()


def test_it_reads_exactly_the_events_its_table_names():
    assert projection.subjects == tuple(t.subject_filter() for t in projection.handlers)
    assert len(projection.subjects) == 6


async def test_a_stored_asset_is_inserted_in_its_collection_and_counted():
    stored = STORED.event.model_copy(
        update={"data": STORED.event.data.model_copy(update={"collection_id": COLLECTION})}
    )
    ((sql, args),) = await statements(projection, stored)
    assert sql == " ".join(STORE_ASSET.split())
    assert args[:3] == (ASSET, USER, ROW["source_workspace_asset_id"])
    width = len(asset_columns.NAMES)
    assert args[3 : 3 + width] == asset_columns.values(asset_columns.snapshot_of(ROW))
    assert args[3 + width] == COLLECTION


async def test_an_update_sets_only_the_fields_it_names():
    updated = events.AssetUpdated.create(
        source="library",
        user_id=USER,
        data=events.AssetUpdatedData(
            library_asset_id=ASSET, changed=["is_favorite"], is_favorite=True
        ),
    )
    ((sql, args),) = await statements(projection, updated)
    assert "is_favorite = $4" in sql
    assert "custom_title" not in sql
    assert args[-1] is True


async def test_a_deleted_collection_leaves_its_assets_outside_any_collection_first():
    deleted = events.CollectionDeleted.create(
        source="library",
        user_id=USER,
        data=events.CollectionRefData(collection_id=COLLECTION),
    )
    (unfiled, gone) = await statements(projection, deleted)
    assert unfiled[0].startswith("UPDATE user_library SET collection_id = NULL")
    assert gone[0].startswith("DELETE FROM user_collections")
