"""The library's decisions, with no servers: the item's last event in, events or a refusal
out."""

import uuid

import pytest

from atelier.contracts import asset_columns
from atelier.contracts import library as api
from atelier.library.domain.decisions import CollectionDecisions
from atelier.runtime.aggregates import LastEvent, Refused
from services.library.tests.unit.examples import (
    ASSET,
    ASSETS,
    NOTHING,
    ROW,
    SOURCE_ASSET,
    STORED,
    USER,
)

COLLECTION = uuid.uuid4()

DELETED = LastEvent(5, ASSETS.delete(STORED).events[0])


def test_an_update_names_the_fields_it_changes_and_answers_the_new_row():
    command = api.UpdateAsset(
        user_id=USER,
        library_asset_id=ASSET,
        changed=["custom_title", "tags"],
        patch=api.AssetPatch(custom_title="Fox", tags=None),
    )
    decision = ASSETS.update(STORED, command)
    (updated,) = decision.events
    assert (updated.data.changed, updated.data.custom_title, updated.data.tags) == (
        ["custom_title", "tags"],
        "Fox",
        [],
    )
    assert decision.reply["custom_title"] == "Fox"


def test_a_deletion_carries_what_the_reactors_need():
    deleted = DELETED.event.data
    assert (deleted.source_workspace_asset_id, deleted.storage_key) == (
        SOURCE_ASSET,
        ROW["storage_key"],
    )


def test_a_copy_to_the_workspace_names_a_new_workspace_asset():
    decision = ASSETS.copy_to_workspace(STORED, asset_columns.snapshot_of(ROW))
    (copied,) = decision.events
    assert copied.data.workspace_asset_id == decision.reply.workspace_asset_id
    assert copied.data.asset.storage_key == ROW["storage_key"]


@pytest.mark.parametrize("last", [NOTHING, DELETED])
def test_nothing_happens_to_an_asset_that_is_not_there(last):
    for decide in (ASSETS.delete, lambda last: ASSETS.copy_to_workspace(last, None)):
        with pytest.raises(Refused, match="no such asset") as refused:
            decide(last)
        assert refused.value.status == 404


def test_a_collection_is_created_once_updated_field_by_field_and_deleted():
    collections = CollectionDecisions(USER, COLLECTION)
    fields = api.CollectionFields(name="Foxes", description="red\nand quick")
    (created,) = collections.create(NOTHING, fields).events
    with pytest.raises(Refused, match="exists"):
        collections.create(LastEvent(1, created), fields)
    renamed = collections.update(LastEvent(1, created), api.CollectionPatch(name="Vixens"))
    assert renamed.reply == api.CollectionFields(name="Vixens", description="red\nand quick")
    (deleted,) = collections.delete(LastEvent(2, renamed.events[0])).events
    assert deleted.type == "library.collection_deleted"
    with pytest.raises(Refused, match="no such collection"):
        collections.update(LastEvent(3, deleted), api.CollectionPatch(name="x"))
