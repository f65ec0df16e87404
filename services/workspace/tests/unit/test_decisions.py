"""The workspace's decisions, with no servers: the asset's last event in, events or a
refusal out."""

import uuid

import pytest

from atelier.contracts import examples
from atelier.contracts import workspace as api
from atelier.contracts import workspace_events as events
from atelier.contracts.assets import AssetSnapshot
from atelier.runtime.aggregates import LastEvent, Refused
from atelier.workspace.domain.decisions import AssetDecisions, library_asset_id, unsave

USER = uuid.uuid4()
ASSET = uuid.uuid4()


def snapshot() -> AssetSnapshot:
    completed = examples.completed(USER, num_images=1)
    asset, spec = completed.data.assets[0], completed.data.spec
    return AssetSnapshot(
        **asset.model_dump(exclude={"index", "seed"}),
        generation_seed=asset.seed,
        original_prompt=spec.prompt,
        model_used=spec.model,
        generation_settings={"steps": spec.steps},
        generated_at=completed.occurred_at,
    )


DECISIONS = AssetDecisions(USER, ASSET, snapshot())
IN_WORKSPACE = LastEvent(0, None)
SAVED = LastEvent(7, DECISIONS.save(IN_WORKSPACE, api.SaveOptions()).events[0])
GONE = LastEvent(9, DECISIONS.discard(IN_WORKSPACE).events[0])


def types(decision) -> list[str]:
    return [event.type for event in decision.events]


def test_saving_names_one_library_asset_for_good_and_twice_is_once():
    first = DECISIONS.save(IN_WORKSPACE, api.SaveOptions(tags=["keep"]))
    assert types(first) == ["workspace.asset_saved"]
    assert first.reply.library_asset_id == library_asset_id(ASSET)
    assert first.events[0].data.tags == ["keep"]
    again = DECISIONS.save(SAVED, api.SaveOptions())
    assert (again.events, again.reply) == ([], first.reply)


@pytest.mark.parametrize(
    ("decide", "last", "detail"),
    [
        (lambda last: DECISIONS.save(last, api.SaveOptions()), GONE, "left the workspace"),
        (DECISIONS.discard, GONE, "left the workspace already"),
        (DECISIONS.discard, SAVED, "saved to the library"),
    ],
)
def test_refusals(decide, last, detail):
    with pytest.raises(Refused, match=detail) as refused:
        decide(last)
    assert refused.value.status == 409


def test_discarding_an_asset_in_the_workspace_deletes_it_with_its_keys():
    (discarded,) = DECISIONS.discard(IN_WORKSPACE).events
    assert discarded.type == "workspace.asset_discarded"
    assert (discarded.data.storage_key, discarded.data.library_asset_id) == (
        DECISIONS.snapshot.storage_key,
        None,
    )


def test_clearing_saves_what_was_not_saved_then_lets_it_leave():
    cleared = DECISIONS.clear(IN_WORKSPACE)
    assert types(cleared) == ["workspace.asset_saved", "workspace.asset_removed"]
    assert cleared.reply == api.Cleared(saved=1, removed=1)
    assert cleared.events[1].data.library_asset_id == library_asset_id(ASSET)
    assert types(DECISIONS.clear(SAVED)) == ["workspace.asset_removed"]
    assert DECISIONS.clear(GONE).reply == api.Cleared(saved=0, removed=0)


def test_expiry_takes_what_is_still_there_and_says_where_its_copy_is():
    assert types(DECISIONS.expire(IN_WORKSPACE)) == ["workspace.asset_expired"]
    (expired,) = DECISIONS.expire(SAVED).events
    assert expired.data.library_asset_id == library_asset_id(ASSET)
    assert DECISIONS.expire(GONE).events == []


def test_a_deleted_library_copy_unsaves_the_asset_unless_it_was_saved_again_since():
    deleted = events.AssetUnsavedData(asset_id=ASSET, library_asset_id=library_asset_id(ASSET))
    cause = SAVED.event  # stands for the library's deletion event
    decided = unsave(USER, ASSET, SAVED, deleted.library_asset_id, cause, cause_sequence=8)
    assert types(decided) == ["workspace.asset_unsaved"]
    saved_later = LastEvent(12, SAVED.event)
    late = unsave(USER, ASSET, saved_later, deleted.library_asset_id, cause, cause_sequence=8)
    assert late.events == []
    assert unsave(USER, ASSET, GONE, deleted.library_asset_id, cause, 10).events == []
