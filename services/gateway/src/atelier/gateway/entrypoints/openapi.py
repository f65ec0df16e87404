"""The OpenAPI document: FastAPI's, made whole for the tools that read it.

FastAPI writes the document from the routes; three things it cannot know are added here,
once, when the document is first asked for:
- the `Problem` schema (`problems.ProblemDetails`) that every error response names
  (the routers list their statuses with `problems.responses`);
- no stand-in 422: FastAPI adds a JSON `HTTPValidationError` to any operation with
  parameters that declares no 422 itself; this API never sends one (its 422s are
  problem+json, declared where they can happen), so any left is taken out;
- plain schema names: two models of one name (the workspace's and the library's
  `AssetPage`) get `WorkspaceAssetPage` and `LibraryAssetPage`, not FastAPI's
  `atelier__contracts__workspace__AssetPage`, so client generators name them apart.

`tests/contracts` lints the result with Redocly's recommended rules and generates a
client from it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from atelier.gateway.problems import MEDIA_TYPE, SCHEMA, ProblemDetails

REF = "#/components/schemas/"
_STAND_IN = REF + "HTTPValidationError"


def install(app: FastAPI) -> None:
    generated = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generated())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template=REF + "{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas[SCHEMA] = problem | {"title": SCHEMA}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            if "422" in answers and MEDIA_TYPE not in answers["422"].get("content", {}):
                del answers["422"]
    if _STAND_IN not in json.dumps(document["paths"]):
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
    renamed = {name: _plain(name) for name in schemas if "__" in name}
    document["components"]["schemas"] = {
        renamed.get(name, name): schema | ({"title": renamed[name]} if name in renamed else {})
        for name, schema in schemas.items()
    }
    return _with_refs_renamed(document, renamed)


def _plain(qualified: str) -> str:
    """`atelier__contracts__workspace__AssetPage` → `WorkspaceAssetPage`."""
    *_, module, model = qualified.split("__")
    return module.capitalize() + model


def _with_refs_renamed(value: Any, renamed: dict[str, str]) -> Any:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.removeprefix(REF) in renamed:
            value = value | {"$ref": REF + renamed[ref.removeprefix(REF)]}
        return {key: _with_refs_renamed(item, renamed) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_refs_renamed(item, renamed) for item in value]
    return value
