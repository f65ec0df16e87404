"""The gateway's OpenAPI document, linted with Redocly's recommended rules and checked for
what a client generator needs: servers, a licence, security schemes, and every error an
operation can answer, as problem+json."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import types
import uuid

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from atelier.gateway.auth import Authenticator, User
from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.dependencies import get_gateway, get_user
from atelier.gateway.entrypoints.http import create_app
from atelier.gateway.problems import MEDIA_TYPE, ProblemDetails
from tests.contracts.tools import generate_client, run
from tests.security.api_routes import ANONYMOUS_ROUTES

PROBLEM = {"$ref": "#/components/schemas/Problem"}
STREAM = ("GET", "/v1/events")


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        if path.startswith("/v1/")
        for method, operation in methods.items()
    ]


def test_redocly_recommended_rules_find_nothing(node_tools, openapi_document, tmp_path):
    """`tools/contract-checks/redocly.yaml`: the recommended rules, none ignored."""
    (tmp_path / "openapi.json").write_text(json.dumps(openapi_document, indent=1))
    done = run(
        node_tools / "node_modules" / ".bin" / "redocly",
        "lint",
        "--config",
        node_tools / "redocly.yaml",
        "--format",
        "json",
        tmp_path / "openapi.json",
        cwd=node_tools,
        timeout=120,
    )
    report = json.loads(done.stdout)
    problems = [f"{p['ruleId']}: {p['message']} {p['location']}" for p in report["problems"]]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, "\n".join(problems)
    assert done.returncode == 0


def test_every_operation_lists_its_errors_as_problem_json(openapi_document):
    assert "HTTPValidationError" not in json.dumps(openapi_document)
    for method, path, operation in operations(openapi_document):
        answers = operation["responses"]
        errors = {status for status in answers if status[0] in "45"}
        anonymous = (method, path) in ANONYMOUS_ROUTES
        assert {"500"} | ({"429"} if anonymous else {"401"}) <= errors, (method, path)
        if "{" in path:
            assert "404" in errors, (method, path)
        # A share token of the wrong form is 404 like an unknown one, never 422.
        takes_input = "requestBody" in operation or any(
            parameter["in"] != "header" and not (anonymous and parameter["name"] == "token")
            for parameter in operation.get("parameters", [])
        )
        if takes_input:
            assert "422" in errors, (method, path)
        for status in errors:
            assert answers[status]["content"] == {MEDIA_TYPE: {"schema": PROBLEM}}, (
                method,
                path,
                status,
            )
    submit = openapi_document["paths"]["/v1/generations"]["post"]["responses"]
    assert {"404", "409", "422", "429", "503"} <= submit.keys()
    assert "Retry-After" in submit["429"]["headers"]


def test_servers_licence_and_security_schemes_are_declared(openapi_document):
    assert openapi_document["servers"]
    assert openapi_document["info"]["license"]["name"]
    schemes = openapi_document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "",
    }
    assert schemes["accessTokenQuery"]["type"] == "apiKey"
    assert (schemes["accessTokenQuery"]["in"], schemes["accessTokenQuery"]["name"]) == (
        "query",
        "access_token",
    )
    for method, path, operation in operations(openapi_document):
        expected = [{"bearerAuth": []}]
        if (method, path) == STREAM:
            expected.append({"accessTokenQuery": []})
        if (method, path) in ANONYMOUS_ROUTES:  # share links: deliberately anyone's
            expected = []
        assert operation["security"] == expected, (method, path)


def test_operation_ids_are_unique_and_name_their_tag(openapi_document):
    ids = [operation["operationId"] for *_, operation in operations(openapi_document)]
    assert len(ids) == len(set(ids))
    for *_, operation in operations(openapi_document):
        assert operation["operationId"].startswith(operation["tags"][0] + "_")
    assert all(re.fullmatch(r"\w+", name) for name in openapi_document["components"]["schemas"])


@pytest.fixture(scope="module")
def app():
    """The app without its lifespan: the real token check, and nothing behind it."""
    settings = GatewaySettings(jwt_secret="s" * 48)
    application = create_app(settings)
    auth = Authenticator(secrets=["s" * 48], jwks=None, audience=settings.jwt_audience)
    application.dependency_overrides[get_gateway] = lambda: types.SimpleNamespace(auth=auth)
    return application


def test_what_the_api_sends_is_the_documented_problem(app):
    document = app.openapi()
    schema = document | {"$ref": "#/components/schemas/Problem"}
    validator = Draft202012Validator(schema)
    web = TestClient(app, raise_server_exceptions=False)

    refused = web.get("/v1/workspace/assets")  # no token
    app.dependency_overrides[get_user] = lambda: User(uuid.uuid4())
    try:
        invalid = web.post("/v1/generations", json={"model": "sdxl", "prompt": ""})
    finally:
        del app.dependency_overrides[get_user]

    for response, status in ((refused, 401), (invalid, 422)):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == MEDIA_TYPE
        errors = list(validator.iter_errors(response.json()))
        assert not errors, errors[0].message
        ProblemDetails.model_validate(response.json())
    assert invalid.json()["errors"][0]["loc"] == ["body", "prompt"]


def test_a_typed_client_is_generated_from_it_without_a_warning(openapi_document, tmp_path):
    """openapi-python-client reads every operation and schema (the running stack drives
    the client in tests/e2e/test_generated_client.py)."""
    client = generate_client(openapi_document, tmp_path)
    generations = importlib.import_module(f"{client.__name__}.api.generations")
    modules = {module.name for module in pkgutil.iter_modules(generations.__path__)}
    assert "generations_submit_generation" in modules
    assert "generations_upload_image" in modules
    models = importlib.import_module(f"{client.__name__}.models")
    assert {"Problem", "WorkspaceAssetPage", "LibraryAssetPage"} <= set(dir(models))
