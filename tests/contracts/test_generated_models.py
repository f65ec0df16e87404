"""Typed models generated from the published event contracts by a maintained generator
(datamodel-code-generator), as a subscriber would make them, decode every example event:
once from the AsyncAPI document, once from the JSON Schema files."""

from __future__ import annotations

import importlib
import json
from types import ModuleType

import pytest
from pydantic import ValidationError

from atelier.contracts import examples
from atelier.contracts.asyncapi import schemas
from tests.contracts.tools import ASYNCAPI, SCHEMAS, generate_models, import_from

EVENTS = examples.every_event()


@pytest.fixture(scope="module")
def asyncapi_models(tmp_path_factory) -> ModuleType:
    directory = tmp_path_factory.mktemp("asyncapi-models")
    generate_models(ASYNCAPI, "asyncapi", directory / "atelier_asyncapi_models.py")
    return import_from(directory, "atelier_asyncapi_models")


@pytest.fixture(scope="module")
def schema_models(tmp_path_factory) -> ModuleType:
    directory = tmp_path_factory.mktemp("schema-models")
    generate_models(SCHEMAS, "jsonschema", directory / "atelier_event_schemas")
    return import_from(directory, "atelier_event_schemas")


def _same(decoded, event) -> None:
    """Decoded without loss: the generated model gives back exactly what was sent."""
    assert json.loads(decoded.model_dump_json(exclude_unset=True)) == json.loads(
        event.model_dump_json()
    )


def test_models_from_the_asyncapi_document_decode_every_example_event(asyncapi_models):
    names, _ = schemas()
    for event in EVENTS:
        model = getattr(asyncapi_models, names[type(event)])
        _same(model.model_validate_json(event.model_dump_json()), event)
    for message in json.loads(ASYNCAPI.read_text())["components"]["messages"].values():
        payload = getattr(asyncapi_models, message["payload"]["$ref"].rsplit("/", 1)[1])
        for example in message["examples"]:
            payload.model_validate(example["payload"])
            if "headers" in message:
                asyncapi_models.EventHeaders.model_validate(example["headers"])
    requested = EVENTS[0].model_dump(mode="json")
    requested["data"]["spec"]["num_images"] = 99
    with pytest.raises(ValidationError):
        asyncapi_models.GenerationRequested.model_validate(requested)
    with pytest.raises(ValidationError):  # the contracts refuse unknown fields, and so do they
        asyncapi_models.GenerationRequested.model_validate(EVENTS[0].model_dump() | {"x": 1})


def test_models_from_the_json_schema_files_decode_every_example_event(schema_models):
    for event in EVENTS:
        file = SCHEMAS / f"{event.type}.v{event.schema_version}.json"
        module_name = file.stem.replace(".", "_")
        module = importlib.import_module(f"{schema_models.__name__}.{module_name}")
        model = getattr(module, json.loads(file.read_text())["title"])
        _same(model.model_validate_json(event.model_dump_json()), event)
