import json
import uuid

import pytest
from pydantic import ValidationError

from atelier.contracts import examples, subjects
from atelier.contracts.generation import (
    GenerationRequested,
    GenerationStarted,
    GenerationStartedData,
)
from atelier.contracts.registry import UndecodableEvent, decode_event, encode_event

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
JOB = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


def requested(**overrides) -> GenerationRequested:
    return examples.requested(USER, JOB, **overrides)


def test_round_trip_through_the_wire_format():
    event = requested()
    assert decode_event(event.subject, encode_event(event)) == event


def test_subject_puts_user_and_model_in_fixed_positions():
    event = requested()
    assert event.subject == f"atelier.user.{USER}.generation.sdxl.{JOB}.requested"
    assert subjects.user_token_of(event.subject) == str(USER)


def test_dedup_id_is_deterministic_per_fact():
    assert requested().dedup_id == requested().dedup_id == f"{JOB}:requested"
    started = [
        GenerationStarted.create(
            source="gpu-sdxl",
            user_id=USER,
            data=GenerationStartedData(job_id=JOB, model="sdxl", worker_id="w", attempt=n),
        )
        for n in (1, 2)
    ]
    assert started[0].dedup_id != started[1].dedup_id


def test_causation_carries_the_correlation():
    cause = requested()
    effect = GenerationStarted.create(
        source="gpu-sdxl",
        user_id=USER,
        data=GenerationStartedData(job_id=JOB, model="sdxl", worker_id="w", attempt=1),
        causation=cause,
    )
    assert effect.correlation_id == cause.correlation_id
    assert effect.causation_id == cause.event_id


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_images": 7}, "less than or equal to 6"),
        ({"width": 100}, "multiple of 8"),
        ({"prompt": "   "}, "at least 1 character"),
        ({"mode": "video"}, "sdxl makes images only"),
        ({"seed": 2**32 - 2}, "must fit in 32 bits"),
    ],
)
def test_spec_refuses_out_of_bounds_values(overrides, message):
    with pytest.raises(ValidationError, match=message):
        examples.spec(**overrides)


def test_video_frames_must_be_4k_plus_1():
    with pytest.raises(ValidationError, match="4k\\+1"):
        examples.spec(model="wan", mode="video", num_images=1, num_frames=8, fps=16)
    assert (
        examples.spec(model="wan", mode="video", num_images=1, num_frames=9, fps=16).num_frames == 9
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(schema_version=2), "schema_version 2"),
        (lambda d: d.update(type="generation.exploded"), "type"),
        (lambda d: d.update(user_id=str(uuid.uuid4())), "belongs on"),
        (lambda d: d["data"]["spec"].update(num_images=60), "num_images"),
    ],
)
def test_decode_refuses_poison_with_a_reason(mutate, reason):
    event = requested()
    payload = json.loads(encode_event(event))
    mutate(payload)
    with pytest.raises(UndecodableEvent, match=reason):
        decode_event(event.subject, json.dumps(payload).encode())


def test_decode_refuses_non_json():
    with pytest.raises(UndecodableEvent):
        decode_event("atelier.user.x.generation.sdxl.y.requested", b"\xff not json")


def test_subject_tokens_cannot_inject_wildcards():
    with pytest.raises(ValueError, match="subject token"):
        subjects.progress(USER, "a.>")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("subject_filter", "subject", "expected"),
    [
        ("atelier.user.*.workspace.*.saved", "atelier.user.u.workspace.a.saved", True),
        ("atelier.user.*.workspace.*.saved", "atelier.user.u.workspace.a.discarded", False),
        ("atelier.user.*.workspace.*.*", "atelier.user.u.library.a.stored", False),
        ("atelier.user.u.>", "atelier.user.u.library.a.stored", True),
        ("atelier.user.u.>", "atelier.user.u", False),
        ("atelier.user.*.generation.*.*.completed", "atelier.user.u.generation.m.j", False),
    ],
)
def test_subject_filters_match_as_nats_does(subject_filter, subject, expected):
    assert subjects.matches(subject_filter, subject) is expected


def test_workspace_and_library_events_name_only_the_users_own_objects():
    from atelier.contracts import library_events, workspace_events

    user, other = uuid.uuid4(), uuid.uuid4()
    mine, theirs = f"{user}/copies/a.png", f"{other}/copies/a.png"

    def discarded(key: str):
        return workspace_events.AssetDiscarded.create(
            source="test",
            user_id=user,
            data=workspace_events.AssetLeftData(
                asset_id=uuid.uuid4(), storage_key=key, thumbnail_key=f"{user}/t.webp"
            ),
        )

    def files_deleted(keys: list[str]):
        return library_events.LibraryFilesDeleted.create(
            source="test",
            user_id=user,
            data=library_events.FilesDeletedData(library_asset_id=uuid.uuid4(), keys=keys),
        )

    assert discarded(mine).data.storage_key == mine
    assert files_deleted([mine]).data.keys == [mine]
    for forged in (theirs, f"{user}/../{other}/a.png", f"{user}/", "a.png"):
        with pytest.raises(ValidationError, match="is not an object of user"):
            discarded(forged)
        with pytest.raises(ValidationError, match="is not an object of user"):
            files_deleted([mine, forged])
