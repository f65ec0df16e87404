"""Headers refuse control characters with a 422 naming them, before the route reaches the
bus: a NUL cannot be sent over real HTTP/1.1 (h11 refuses it), so the app is driven
in-process, with the user and the gateway stubbed. (Query parameters and bodies are tried
through the running platform: tests/security/test_control_characters.py.)"""

import uuid

import pytest
from fastapi.testclient import TestClient

from atelier.gateway.auth import User
from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.dependencies import get_gateway, get_user
from atelier.gateway.entrypoints.http import create_app

JOB = {"model": "sdxl", "prompt": "a fox"}


@pytest.fixture(scope="module")
def web() -> TestClient:
    """The app without its lifespan; a request that got past validation would fail on the
    missing gateway (500), so every 422 here was answered before any work was done."""
    app = create_app(GatewaySettings(jwt_secret="s" * 48))
    app.dependency_overrides[get_user] = lambda: User(uuid.uuid4())
    app.dependency_overrides[get_gateway] = lambda: None
    return TestClient(app, raise_server_exceptions=False)


def _refused(response, detail: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == detail


@pytest.mark.parametrize("character", ["\x00", "\t", "\x1b", "\x7f", "\x85"])
def test_an_idempotency_key_with_a_control_character_is_refused(web, character):
    response = web.post(
        "/v1/generations",
        json=JOB,
        headers={"Idempotency-Key": f"key{character}1".encode("latin-1")},
    )
    _refused(
        response,
        f"header.idempotency-key: Value error, control character U+{ord(character):04X} "
        "is not allowed",
    )


def test_a_prompt_with_a_lone_surrogate_is_refused_by_name(web):
    response = web.post(
        "/v1/generations",
        content=b'{"model": "sdxl", "prompt": "a\\ud800b"}',
        headers={"Content-Type": "application/json"},
    )
    _refused(response, "prompt: Value error, lone surrogate U+D800 is not allowed")


def test_the_openapi_document_states_the_rule():
    app = create_app(GatewaySettings(jwt_secret="s" * 48))
    parameters = app.openapi()["paths"]["/v1/generations"]["post"]["parameters"]
    (key,) = [p for p in parameters if p["name"] == "idempotency-key"]
    assert key["schema"]["anyOf"][0]["pattern"] == "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
