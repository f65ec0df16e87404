"""Share links, with no servers: the decision mints, keeps and clears the token; the
projection writes it; what anyone with the link sees carries nothing of the owner."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from atelier.contracts import library as api
from atelier.contracts import library_events as events
from atelier.contracts.registry import decode_event, encode_event
from atelier.library.domain.decisions import AssetDecisions
from atelier.library.projection import LibraryProjection
from atelier.library.queries import shared_view
from atelier.runtime.aggregates import LastEvent
from services.library.tests.unit.examples import ASSET, ASSETS, ROW, STORED, USER
from tests.fakes import statements

projection = LibraryProjection()


def visibility(value: str, decisions: AssetDecisions = ASSETS, last: LastEvent = STORED):
    command = api.UpdateAsset(
        user_id=USER,
        library_asset_id=ASSET,
        changed=["visibility"],
        patch=api.AssetPatch(visibility=value),
    )
    decision = decisions.update(last, command)
    (event,) = decision.events
    return event, decision.reply


def after(event) -> LastEvent:
    return LastEvent(STORED.sequence + 1, event)


def test_leaving_private_mints_an_unguessable_token():
    event, reply = visibility("unlisted")
    token = event.data.share_token
    assert token is not None
    assert len(token) >= 22
    assert reply["share_token"] == token
    assert visibility("unlisted")[0].data.share_token != token  # random each time


def test_the_token_is_kept_between_unlisted_and_public():
    unlisted, _ = visibility("unlisted")
    public, _ = visibility("public", last=after(unlisted))
    again, _ = visibility("unlisted", last=after(public))
    assert unlisted.data.share_token == public.data.share_token == again.data.share_token


def test_when_the_last_event_is_no_visibility_change_the_rows_token_is_kept():
    shared_row = AssetDecisions(USER, ROW | {"visibility": "unlisted", "share_token": "t" * 32})
    favourite = api.UpdateAsset(
        user_id=USER,
        library_asset_id=ASSET,
        changed=["is_favorite"],
        patch=api.AssetPatch(is_favorite=True),
    )
    (liked,) = shared_row.update(STORED, favourite).events
    assert "share_token" not in liked.data.changed
    assert liked.data.share_token is None
    public, _ = visibility("public", shared_row, after(liked))
    assert public.data.share_token == "t" * 32


def test_back_to_private_clears_it_and_sharing_again_mints_a_new_one():
    unlisted, _ = visibility("unlisted")
    private, reply = visibility("private", last=after(unlisted))
    assert private.data.share_token is None
    assert reply["share_token"] is None
    cleared_row = AssetDecisions(USER, ROW | {"visibility": "private", "share_token": None})
    again, _ = visibility("public", cleared_row, after(private))
    assert again.data.share_token not in (None, unlisted.data.share_token)


def test_the_token_travels_in_the_event_and_old_events_still_decode():
    event, _ = visibility("public")
    subject = event.subject
    assert decode_event(subject, encode_event(event)).data.share_token == event.data.share_token
    old = json.loads(encode_event(event))
    del old["data"]["share_token"]  # an event from before share links
    assert decode_event(subject, json.dumps(old).encode()).data.share_token is None


@pytest.mark.parametrize("token", ["short", "x" * 65, "a/b" + "c" * 30, "é" * 30, "a\x00" * 16])
def test_a_token_that_is_not_one_is_refused_by_the_event(token):
    with pytest.raises(ValidationError, match="share_token"):
        events.AssetUpdatedData(
            library_asset_id=ASSET, changed=["visibility"], visibility="public", share_token=token
        )


async def test_a_visibility_change_writes_the_token_and_when_it_was_shared():
    event, _ = visibility("public")
    ((sql, args),) = await statements(projection, event)
    assert "visibility = $4" in sql
    assert "share_token = $5" in sql
    assert "shared_at = CASE WHEN $5::text IS NULL THEN NULL" in sql
    assert "user_library.visibility IS DISTINCT FROM $4::text THEN $3" in sql
    assert args == (ASSET, USER, event.occurred_at, "public", event.data.share_token)


async def test_other_changes_leave_the_link_alone():
    liked = events.AssetUpdated.create(
        source="library",
        user_id=USER,
        data=events.AssetUpdatedData(
            library_asset_id=ASSET, changed=["is_favorite", "tags"], is_favorite=True
        ),
    )
    ((sql, args),) = await statements(projection, liked)
    assert "share_token" not in sql
    assert "shared_at" not in sql
    assert len(args) == 5


def test_what_anyone_with_the_link_sees_names_nothing_of_the_owner():
    reference = {"image": {"bucket": "user-library", "key": f"{USER}/x/1.png"}}
    row = ROW | {
        "user_id": USER,
        "collection_id": uuid.uuid4(),
        "tags": ["secret-tag"],
        "is_favorite": True,
        "visibility": "unlisted",
        "share_token": "T" * 32,
        "shared_at": datetime(2026, 12, 1, tzinfo=UTC),
        "generation_settings": {
            "steps": 4,
            "guidance_scale": 5.0,
            "quality": "fast",
            "reference": reference | {"mode": "img2img", "strength": 0.5},
            "start_frame": {"bucket": "user-library", "key": f"{USER}/y/2.png"},
        },
    }
    shared = shared_view(row)
    text = shared.model_dump_json()
    for secret in (USER, ASSET, ROW["source_workspace_asset_id"], row["collection_id"]):
        assert str(secret) not in text
    assert "secret-tag" not in text
    assert ROW["storage_key"] not in text
    assert shared.settings.reference is None
    assert (shared.settings.steps, shared.settings.seed, shared.settings.prompt) == (
        4,
        ROW["generation_seed"],
        "a fox",
    )
    assert (shared.share_url, shared.file_url) == (f"/s/{'T' * 32}", f"/s/{'T' * 32}/file")
    assert shared.title == "a fox"  # no title of its own: the prompt


def test_a_long_prompt_makes_a_short_title_on_one_line():
    shared = shared_view(
        ROW
        | {
            "original_prompt": "a\nfox " * 100,
            "visibility": "public",
            "share_token": "T" * 32,
            "shared_at": datetime(2026, 12, 1, tzinfo=UTC),
        }
    )
    assert len(shared.title) <= 120
    assert "\n" not in shared.title
    assert shared.title.endswith("…")
