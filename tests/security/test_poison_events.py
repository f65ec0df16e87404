"""Bad events put straight onto the log (as the NATS admin, the strongest publisher): each
consumer that reads one dead-letters it with the reason and goes on; nothing is projected."""

from __future__ import annotations

import json
import uuid

import pytest
from nats.js.errors import APIError

from atelier.contracts import examples, storage, subjects, workspace_events
from atelier.contracts.streams import DEAD_LETTERS, EVENTS, MAX_EVENT_BYTES
from atelier.platform.local import Platform
from atelier.runtime.dead_letters import ORIGINAL_SEQUENCE, REASON
from tests.helpers import bus, client, eventually, readers_of, seeded_assets, settled, user_rows
from tests.security.figures import record, refused

pytestmark = pytest.mark.e2e


def _tampered(event, change) -> tuple[str, bytes]:
    """The event's subject, and its JSON after `change(payload_dict)`."""
    payload = json.loads(event.model_dump_json())
    change(payload)
    return event.subject, json.dumps(payload).encode()


def _long_prompt(payload: dict) -> None:
    payload["data"]["spec"]["prompt"] = "x" * 5000


def _another_users_files(payload: dict) -> None:
    victim, job = uuid.uuid4(), uuid.uuid4()
    for asset in payload["data"]["assets"]:
        asset["storage_key"] = storage.generated_file(victim, job, asset["index"], "png")
        asset["thumbnail_key"] = storage.generated_thumbnail(victim, job, asset["index"])


def _discarded(user: uuid.UUID) -> workspace_events.AssetDiscarded:
    """A well-formed discard of one of the user's workspace assets."""
    return workspace_events.AssetDiscarded.create(
        source="test",
        user_id=user,
        data=workspace_events.AssetLeftData(
            asset_id=uuid.uuid4(),
            storage_key=f"{user}/copies/a.png",
            thumbnail_key=f"{user}/copies/a.thumb.webp",
        ),
    )


def _a_victims_file(payload: dict) -> None:
    payload["data"]["storage_key"] = f"{uuid.uuid4()}/copies/a.png"


def poisons() -> dict[str, tuple[str, bytes, str]]:
    """what -> (subject, payload, part of the reason); each about a user of its own."""
    wrong_user = examples.completed(uuid.uuid4())
    return {
        "malformed JSON": (
            subjects.aggregate(uuid.uuid4(), "workspace", uuid.uuid4(), "saved"),
            b'{"type": "workspace.asset_saved", ',
            "json",
        ),
        "unknown version": (
            *_tampered(examples.completed(uuid.uuid4()), lambda p: p.update(schema_version=99)),
            "schema_version 99",
        ),
        "unknown type": (
            *_tampered(examples.completed(uuid.uuid4()), lambda p: p.update(type="gen.boom")),
            "does not match any of the expected tags",
        ),
        "another user's subject": (
            wrong_user.subject.replace(str(wrong_user.user_id), str(uuid.uuid4())),
            wrong_user.model_dump_json().encode(),
            "belongs on",
        ),
        "prompt over the limit": (
            *_tampered(examples.requested(uuid.uuid4()), _long_prompt),
            "prompt",
        ),
        "a NUL in the prompt": (
            *_tampered(
                examples.requested(uuid.uuid4()),
                lambda p: p["data"]["spec"].update(prompt="a\x00b"),
            ),
            "control character u+0000",
        ),
        "another user's files": (
            *_tampered(examples.completed(uuid.uuid4()), _another_users_files),
            "keys must be",
        ),
        "a discard naming another user's file": (
            *_tampered(_discarded(uuid.uuid4()), _a_victims_file),
            "is not an object of user",
        ),
    }


async def test_poison_is_dead_lettered_with_its_reason_and_consumers_go_on(
    platform: Platform,
) -> None:
    events = await bus(platform)
    try:
        published = {}
        for what, (subject, payload, reason) in poisons().items():
            ack = await events.js.publish(subject, payload, stream=EVENTS.name)
            published[ack.seq] = (what, subject, reason)

        # Consumers go on: a good event after the poison is projected.
        user = uuid.uuid4()
        async with client(platform, user) as api:
            assert len(await seeded_assets(platform, api, user, 1)) == 1
        await settled(platform)

        async def dead_letters() -> dict[int, dict[str, str]] | None:
            found = await _dead_letters(events.js, set(published))
            complete = all(
                set(found.get(seq, {})) == readers_of(subject)
                for seq, (_, subject, _) in published.items()
            )
            return found if complete else None

        found = await eventually(dead_letters, timeout=30)
    finally:
        await events.nc.close()

    for seq, (what, subject, reason) in published.items():
        assert readers_of(subject), what  # someone reads it, so someone must refuse it
        for consumer, why in found[seq].items():
            assert reason in why.lower(), (what, consumer, why)
        record("events dead-lettered (poison × consumers)", len(found[seq]))
        user = subjects.user_token_of(subject)
        assert not any((await user_rows(platform, uuid.UUID(user))).values()), what
    refused("poison event", len(published))


async def _dead_letters(js, sequences: set[int]) -> dict[int, dict[str, str]]:
    """original sequence -> {consumer: reason}, for the given sequences."""
    info = await js.stream_info(DEAD_LETTERS.name)
    found: dict[int, dict[str, str]] = {}
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(DEAD_LETTERS.name, seq)
        original = int(msg.headers[ORIGINAL_SEQUENCE])
        if original in sequences:
            consumer = msg.subject.removeprefix(f"{subjects.DEAD_LETTER_ROOT}.")
            found.setdefault(original, {})[consumer] = msg.headers[REASON]
    return found


async def test_an_oversized_event_never_reaches_the_log(platform: Platform) -> None:
    subject = subjects.aggregate(uuid.uuid4(), "workspace", uuid.uuid4(), "saved")
    events = await bus(platform)
    try:
        with pytest.raises(APIError, match="maximum"):
            await events.js.publish(subject, b"x" * (MAX_EVENT_BYTES + 1), stream=EVENTS.name)
        info = await events.js.stream_info(EVENTS.name, subjects_filter=subject)
        assert not info.state.subjects
    finally:
        await events.nc.close()
    refused("oversized event")
