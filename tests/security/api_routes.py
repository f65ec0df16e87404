"""The gateway's API routes, read from the app's own OpenAPI document, so a new route is
tested the day it is added."""

from __future__ import annotations

import re
import uuid

from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.http import create_app

_PARAMETER = re.compile(r"\{[^}]+\}")


#: The routes anyone may call, deliberately: share links and the public gallery (rate
#: limited per client address). Each says so in the OpenAPI document (`security: []`);
#: `tests/security/test_anonymous_routes.py` fails when the document and this disagree.
ANONYMOUS_ROUTES = {
    ("GET", "/v1/shared/{token}"),
    ("GET", "/v1/public/assets"),
    ("GET", "/s/{token}"),
    ("GET", "/s/{token}/file"),
    ("GET", "/s/{token}/thumbnail"),
}


def _operations() -> dict[tuple[str, str], dict]:
    app = create_app(GatewaySettings(jwt_secret="only-the-routes-are-read-here"))
    return {
        (method.upper(), path): operation
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
    }


def api_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route under /v1 that needs a user (all but the
    anonymous ones)."""
    return sorted(
        route
        for route, operation in _operations().items()
        if route[1].startswith("/v1/") and operation.get("security") != []
    )


def anonymous_routes() -> set[tuple[str, str]]:
    """The routes the OpenAPI document says need no credentials (`security: []`)."""
    return {route for route, operation in _operations().items() if operation.get("security") == []}


def id_routes() -> set[tuple[str, str]]:
    """The routes that take an id in their path."""
    return {(method, path) for method, path in api_routes() if _PARAMETER.search(path)}


def concrete_path(template: str, **ids: object) -> str:
    """The path with its parameters filled: from `ids` by name, else with new UUIDs."""
    return _PARAMETER.sub(lambda m: str(ids.get(m.group(0)[1:-1], uuid.uuid4())), template)


#: A valid generation request that the tiny models render in moments.
QUICK_JOB = {"model": "sdxl", "prompt": "a quick one", "width": 64, "height": 64, "steps": 1}
