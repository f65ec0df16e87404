"""No control character, lone surrogate, non-finite number or integer beyond 64 bits gets
into an event: what PostgreSQL cannot store is refused where it enters, and again by
every consumer."""

import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from atelier.contracts import examples, library_events, storage
from atelier.contracts.assets import AssetSnapshot, Tag, Title
from atelier.contracts.generation import (
    GeneratedAsset,
    GenerationStartedData,
    NegativePrompt,
    Prompt,
)
from atelier.contracts.library import AssetFilters, CollectionFields
from atelier.contracts.library_events import CollectionName, Description
from atelier.contracts.registry import EVENT_TYPES, UndecodableEvent, decode_event, encode_event
from atelier.contracts.requests import Cursor
from atelier.contracts.text import MULTI_LINE, MultiLineText, SingleLineText

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")

C0 = [chr(code) for code in range(0x20)]
OTHER_REFUSED = ["\x7f", "\x80", "\x85", "\x9f", "\ud800", "\udfff"]
SINGLE_LINE_TYPES = [SingleLineText, Title, Tag, CollectionName, Cursor]
MULTI_LINE_TYPES = [MultiLineText, Prompt, NegativePrompt, Description]


def _name(character: str) -> str:
    return f"U+{ord(character):04X}"


def _refusal(character: str) -> str:
    return re.escape(f"{_name(character)} is not allowed")


@pytest.mark.parametrize("kind", SINGLE_LINE_TYPES)
@pytest.mark.parametrize("character", C0 + OTHER_REFUSED, ids=_name)
def test_single_line_text_refuses_every_control_character(kind, character):
    with pytest.raises(ValidationError, match=_refusal(character)):
        TypeAdapter(kind).validate_python(f"a{character}b")


@pytest.mark.parametrize("kind", MULTI_LINE_TYPES)
@pytest.mark.parametrize("character", [c for c in C0 if c not in "\t\n"] + OTHER_REFUSED, ids=_name)
def test_multi_line_text_refuses_control_characters_but_tab_and_newline(kind, character):
    with pytest.raises(ValidationError, match=_refusal(character)):
        TypeAdapter(kind).validate_python(f"a{character}b")


@pytest.mark.parametrize("kind", MULTI_LINE_TYPES)
def test_multi_line_text_keeps_tab_and_newline(kind):
    assert TypeAdapter(kind).validate_python("line one\nline two\tend") == (
        "line one\nline two\tend"
    )


@pytest.mark.parametrize("kind", SINGLE_LINE_TYPES)
def test_single_line_text_refuses_tab_and_newline(kind):
    for text in ("line one\nline two", "one\ttwo"):
        with pytest.raises(ValidationError, match=r"control character U\+000[9A]"):
            TypeAdapter(kind).validate_python(text)


def test_the_message_names_the_character_and_the_field():
    with pytest.raises(ValidationError) as refused:
        CollectionFields.model_validate({"name": "a\x00b"})
    (error,) = refused.value.errors()
    assert error["loc"] == ("name",)
    assert error["msg"] == "Value error, control character U+0000 is not allowed"
    with pytest.raises(ValidationError) as refused:
        AssetFilters.model_validate({"q": "x\ud800"})
    assert refused.value.errors()[0]["msg"] == "Value error, lone surrogate U+D800 is not allowed"


def test_characters_are_checked_before_whitespace_is_stripped():
    """A control character at the edge is refused too, not quietly dropped."""
    for text in ("\rprompt", "prompt\x85", "prompt\x0b"):
        with pytest.raises(ValidationError, match="is not allowed"):
            TypeAdapter(Prompt).validate_python(text)
    assert TypeAdapter(Prompt).validate_python("  a prompt\n") == "a prompt"


def test_a_tag_names_the_character_before_its_own_pattern():
    with pytest.raises(ValidationError, match=_refusal("\x1b")):
        TypeAdapter(Tag).validate_python("a\x1bb")
    with pytest.raises(ValidationError, match="should match pattern"):
        TypeAdapter(Tag).validate_python("a!b")


def test_bytes_are_checked_once_they_are_text():
    with pytest.raises(ValidationError, match=_refusal("\x00")):
        TypeAdapter(Title).validate_python(b"a\x00b")


def test_json_schemas_state_the_rule_and_keep_a_fields_own_pattern():
    assert TypeAdapter(Title).json_schema()["pattern"] == "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    assert TypeAdapter(Prompt).json_schema()["pattern"] == "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$"
    assert TypeAdapter(Tag).json_schema()["pattern"] == "^[\\w\\- ]+$"


def _stored(**snapshot_changes) -> library_events.AssetStored:
    completed = examples.completed(USER, num_images=1)
    asset, spec = completed.data.assets[0], completed.data.spec
    snapshot = AssetSnapshot(
        **{
            **asset.model_dump(exclude={"index", "seed", "storage_key", "thumbnail_key"}),
            "storage_key": storage.library_file(USER, uuid.uuid4(), uuid.uuid4(), "png"),
            "thumbnail_key": storage.library_thumbnail(USER, uuid.uuid4(), uuid.uuid4()),
            "generation_seed": asset.seed,
            "original_prompt": spec.prompt,
            "model_used": spec.model,
            "generation_settings": {"steps": spec.steps, "nested": {"sampler": "euler"}},
            "generated_at": datetime(2026, 11, 1, tzinfo=UTC),
            **snapshot_changes,
        }
    )
    return library_events.AssetStored.create(
        source="library",
        user_id=USER,
        data=library_events.AssetStoredData(
            library_asset_id=uuid.uuid4(),
            source_workspace_asset_id=uuid.uuid4(),
            custom_title="Été à Kyoto 🌸",
            tags=["été", "京都"],
            asset=snapshot,
        ),
    )


def _payload_with_settings(event, settings: dict) -> bytes:
    """The event as a compromised publisher might append it: valid JSON, a bad value."""
    payload = json.loads(encode_event(event))
    payload["data"]["asset"]["generation_settings"] = settings
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"nested": {"a\x00": 1}}, "generation_settings: Value error, nested (a key): control"),
        ({"nested": {"k": ["fine", "a\x00b"]}}, "generation_settings: Value error, nested.k.1:"),
        ({"strength": float("nan")}, "Value error, strength: nan is not a finite"),
        ({"scale": float("inf")}, "Value error, scale: inf is not a finite"),
        ({"seed": 2**70}, "Value error, seed: the integer does not fit in 64 bits"),
        ({"seed": -(2**63) - 1}, "does not fit in 64 bits"),
        ({"escape": "\x1b[31mred"}, "U+001B is not allowed"),
    ],
)
def test_free_form_values_that_postgresql_refuses_make_an_event_undecodable(settings, reason):
    event = _stored()
    with pytest.raises(UndecodableEvent, match=re.escape(reason)):
        decode_event(event.subject, _payload_with_settings(event, settings))


def test_a_publisher_cannot_even_build_such_an_event():
    with pytest.raises(
        ValidationError, match=re.escape("generation_settings\n  Value error, x: nan is not")
    ):
        _stored(generation_settings={"x": float("nan")})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("custom_title", "a\x00b"),
        ("tags", ["a\x00b"]),
    ],
)
def test_user_text_with_a_nul_makes_an_event_undecodable(field, value):
    event = _stored()
    payload = json.loads(encode_event(event))
    payload["data"][field] = value
    with pytest.raises(UndecodableEvent, match=_refusal("\x00")):
        decode_event(event.subject, json.dumps(payload).encode())


def test_a_prompt_with_a_nul_makes_a_request_undecodable():
    event = examples.requested(USER)
    payload = json.loads(encode_event(event))
    payload["data"]["spec"]["prompt"] = "a\x00b"
    with pytest.raises(
        UndecodableEvent, match=re.escape("spec.prompt: Value error, control character")
    ):
        decode_event(event.subject, json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width", 2**31),
        ("height", 2**31),
        ("file_size_bytes", 2**63),
        ("duration_seconds", float("nan")),
    ],
)
def test_numbers_fit_the_columns_they_land_in(field, value):
    generated = examples.completed(USER, num_images=1).data.assets[0]
    with pytest.raises(ValidationError, match=field):
        GeneratedAsset.model_validate(generated.model_dump() | {field: value})
    snapshot = _stored().data.asset
    with pytest.raises(ValidationError, match=field):
        AssetSnapshot.model_validate(snapshot.model_dump() | {field: value})


def test_unicode_text_still_decodes():
    words = "a café in Zürich, 東京の夜, ünïcödé, emoji 🎨🦊\nsecond line\twith a tab"
    requested = examples.requested(USER, prompt=words, negative_prompt="ぼやけた 🙈")
    assert decode_event(requested.subject, encode_event(requested)) == requested
    stored = _stored(generation_settings={"légende": "海 🌊", "nested": [{"ok": "ß\tx\ny"}]})
    assert decode_event(stored.subject, encode_event(stored)) == stored
    collection = library_events.CollectionCreated.create(
        source="library",
        user_id=USER,
        data=library_events.CollectionDefinedData(
            collection_id=uuid.uuid4(), name="Voyages ✈️ 旅行", description="line one\nline two\tend"
        ),
    )
    assert decode_event(collection.subject, encode_event(collection)) == collection


def test_an_attempt_fits_its_integer_column():
    with pytest.raises(ValidationError, match="attempt"):
        GenerationStartedData(job_id=uuid.uuid4(), model="sdxl", worker_id="w", attempt=2**31)


_RULED_FORMATS = {"uuid", "date-time"}


def _unruled_strings(node, path: str = "") -> list[str]:
    """Places in a JSON Schema where any string would do."""
    if isinstance(node, list):
        return [p for i, item in enumerate(node) for p in _unruled_strings(item, f"{path}.{i}")]
    if not isinstance(node, dict):
        return []
    ruled = {"pattern", "const", "enum"} & node.keys() or node.get("format") in _RULED_FORMATS
    here = [path] if node.get("type") == "string" and not ruled else []
    return here + [p for key, item in node.items() for p in _unruled_strings(item, f"{path}.{key}")]


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.model_fields["type"].default)
def test_every_string_of_every_event_has_a_rule(event_type):
    """A new plain `str` field would let control characters onto the log unnamed: give it
    SINGLE_LINE or MULTI_LINE (the envelope's catch-all would still refuse what it must)."""
    assert _unruled_strings(event_type.model_json_schema(mode="serialization")) == []


def test_text_the_system_writes_itself_is_cleaned_rather_than_refused():
    """An error's message becomes a failure's reason: whatever it holds, the event is valid."""
    reason = MULTI_LINE.replaced("a\x00b\r\n\x1b[31mred\ud800" + "x" * 5000, 2000)
    assert reason.startswith("a b \n [31mred ")
    assert len(reason) == 2000
    assert MULTI_LINE.check(reason) == reason
