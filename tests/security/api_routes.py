"""The gateway's API routes, read from the app's own OpenAPI document, so a new route is
tested the day it is added."""

from __future__ import annotations

import re
import uuid

from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.http import create_app

_PARAMETER = re.compile(r"\{[^}]+\}")


def api_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route under /v1 (all of them need a user)."""
    app = create_app(GatewaySettings(jwt_secret="only-the-routes-are-read-here"))
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    )


def id_routes() -> set[tuple[str, str]]:
    """The routes that take an id in their path."""
    return {(method, path) for method, path in api_routes() if _PARAMETER.search(path)}


def concrete_path(template: str, **ids: object) -> str:
    """The path with its parameters filled: from `ids` by name, else with new UUIDs."""
    return _PARAMETER.sub(lambda m: str(ids.get(m.group(0)[1:-1], uuid.uuid4())), template)


#: A valid generation request that the tiny models render in moments.
QUICK_JOB = {"model": "sdxl", "prompt": "a quick one", "width": 64, "height": 64, "steps": 1}
