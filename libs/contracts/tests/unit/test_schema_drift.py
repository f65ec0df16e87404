import json

from atelier.contracts.asyncapi import DOCUMENT, render
from atelier.contracts.schema_export import SCHEMA_DIR, event_schemas


def test_checked_in_schemas_match_the_models():
    expected = event_schemas()
    on_disk = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.json")}
    assert on_disk.keys() == expected.keys(), "run: python -m atelier.contracts.schema_export"
    for name, text in expected.items():
        assert on_disk[name] == text, f"{name} drifted: python -m atelier.contracts.schema_export"


def test_checked_in_asyncapi_document_matches_the_models():
    assert DOCUMENT.read_text() == render(), "run: python -m atelier.contracts.asyncapi"
    document = json.loads(DOCUMENT.read_text())
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert "atelier.user.{userId}.generation.{model}.{jobId}.completed" in addresses
    assert "atelier.user.{userId}.library.{aggregateId}.stored" in addresses
