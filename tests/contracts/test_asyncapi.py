"""The AsyncAPI document, read by the AsyncAPI project's own parser and checked against
the events themselves: every schema a component, every message with its subject, headers
and an example event of `atelier.contracts.examples`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from atelier.contracts import examples
from atelier.contracts.asyncapi import address, schemas
from atelier.contracts.registry import EVENT_TYPES, decode_event
from tests.contracts.tools import ASYNCAPI, run

DOCUMENT = json.loads(ASYNCAPI.read_text())
ERROR, WARNING = 0, 1


def parse(node_tools: Path, document: Path) -> list[dict]:
    """The parser's diagnostics (severity 0 error, 1 warning, 2 information, 3 hint)."""
    done = run("node", node_tools / "check-asyncapi.mjs", document, cwd=node_tools, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_asyncapi_parser_reads_the_document_without_an_error_or_warning(node_tools):
    diagnostics = parse(node_tools, ASYNCAPI)
    serious = [d for d in diagnostics if d["severity"] in (ERROR, WARNING)]
    assert not serious, "\n".join(json.dumps(d) for d in serious)


def test_the_parser_check_fails_on_a_reference_that_resolves_nowhere(node_tools, tmp_path):
    """What the document once did (pydantic's `#/$defs/…` inside a message payload)."""
    broken = json.loads(ASYNCAPI.read_text())
    payload = broken["components"]["messages"]["generation_requested"]["payload"]
    payload["$ref"] = "#/$defs/GenerationRequested"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    errors = [d for d in parse(node_tools, tmp_path / "broken.json") if d["severity"] == ERROR]
    assert [error["code"] for error in errors] == ["invalid-ref"]


def _refs(value) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if "$ref" in value else []
        return own + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []


def _resolve(pointer: str):
    node = DOCUMENT
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_schema_is_a_component_and_every_reference_resolves():
    text = ASYNCAPI.read_text()
    assert '"$defs"' not in text
    for ref in set(_refs(DOCUMENT)):
        assert ref.startswith(("#/components/", "#/channels/")), ref
        _resolve(ref)  # raises KeyError when it points nowhere
    names, _ = schemas()
    for event_type in EVENT_TYPES:
        message = DOCUMENT["components"]["messages"][_key(event_type)]
        assert message["payload"] == {"$ref": f"#/components/schemas/{names[event_type]}"}
    shared = _refs(DOCUMENT["components"]["schemas"])
    assert "#/components/schemas/GenerationSpec" in shared  # requested and completed share it
    assert "#/components/schemas/AssetSnapshot" in shared


def _key(event_type) -> str:
    return event_type.model_fields["type"].default.replace(".", "_")


def _subject_of(channel: dict, payload: dict) -> str:
    """The channel's address, each parameter taken from the message where it says."""

    def value(match: re.Match) -> str:
        location = channel["parameters"][match.group(1)]["location"]
        node = payload
        for part in location.removeprefix("$message.payload#/").split("/"):
            node = node[part]
        return str(node)

    return re.sub(r"\{(\w+)\}", value, channel["address"])


@pytest.mark.parametrize("event", examples.every_event(), ids=lambda event: event.type)
def test_each_message_names_its_subject_headers_and_an_example(event):
    key = _key(type(event))
    channel, message = DOCUMENT["channels"][key], DOCUMENT["components"]["messages"][key]
    assert channel["address"] == address(type(event))
    assert "{userId}" in channel["address"]
    assert f"`{channel['address']}`" in message["description"]
    headers = _resolve(message["headers"]["$ref"])
    assert {"Nats-Msg-Id", "traceparent"} <= headers["properties"].keys()

    (example,) = message["examples"]
    assert example["payload"] == event.model_dump(mode="json")
    assert example["headers"]["Nats-Msg-Id"] == event.dedup_id
    subject = _subject_of(channel, example["payload"])
    assert subject == event.subject
    assert decode_event(subject, json.dumps(example["payload"]).encode()) == event


def _validator(schema_ref: str) -> Draft202012Validator:
    resource = Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:atelier:asyncapi", resource)
    return Draft202012Validator(
        {"$ref": f"urn:atelier:asyncapi{schema_ref}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def test_every_example_in_the_document_is_valid_against_its_message():
    """The parser does not check examples; JSON Schema validation of each does."""
    checked = 0
    for key, message in DOCUMENT["components"]["messages"].items():
        assert message["examples"], f"{key} has no example"
        for example in message["examples"]:
            errors = list(_validator(message["payload"]["$ref"]).iter_errors(example["payload"]))
            assert not errors, f"{key}: {errors[0].message}"
            if "headers" in message:
                headers = _validator(message["headers"]["$ref"])
                assert not list(headers.iter_errors(example["headers"])), key
            checked += 1
    assert checked == len(EVENT_TYPES) + 1  # and step progress
    invalid = examples.every_event()[0].model_dump(mode="json") | {"user_id": "not a uuid"}
    assert not _validator("#/components/schemas/GenerationRequested").is_valid(invalid)
