"""Control characters in user text: every route that takes text refuses them with a 422
problem+json naming the field, publishes nothing and changes nothing. Before, one prompt
with a NUL was accepted, appended to the log, and stopped the workspace projection for
everyone (PostgreSQL refuses NUL in `text` and `jsonb`)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from atelier.contracts import subjects
from atelier.platform.local import Platform
from tests.helpers import (
    client,
    count_events,
    eventually,
    job_assets,
    library_items,
    seeded_assets,
    settled,
    workspace_items,
)
from tests.security.api_routes import QUICK_JOB
from tests.security.figures import refused

pytestmark = pytest.mark.e2e

#: Text a user might paste, each with one character the contracts refuse.
CONTROLS = {"NUL": "a\x00b", "ESC": "a\x1bb", "CR": "a\rb", "NEL": "a\x85b"}
#: A lone surrogate: valid JSON text, not encodable as UTF-8.
LONE_SURROGATE = '"a\\ud800b"'
MULTI_LINE = "line one\nline two\tend"


def _assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, (field, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert detail.startswith(f"{field}: Value error, "), detail
    assert "is not allowed" in detail, detail


def _bodies(field: str, base: dict | None = None, *, listed: bool = False) -> list[str]:
    """JSON bodies that put each refused text in `field` (in a list when `listed`)."""

    def body(text: str) -> str:
        return json.dumps((base or {}) | {field: [text] if listed else text})

    return [body(text) for text in CONTROLS.values()] + [body("@").replace('"@"', LONE_SURROGATE)]


def _without_urls(items: list[dict]) -> list[dict]:
    """Listed items without their signed URLs, which are signed anew on every read."""
    return [{k: v for k, v in item.items() if not k.endswith("_url")} for item in items]


async def _send(api: httpx.AsyncClient, method: str, path: str, body: str) -> httpx.Response:
    return await api.request(
        method, path, content=body.encode(), headers={"Content-Type": "application/json"}
    )


async def _events(platform: Platform, user: uuid.UUID) -> int:
    return await count_events(platform, subjects.user_events(user))


async def test_generation_text_is_refused_and_nothing_is_published(platform: Platform):
    user = uuid.uuid4()
    attempts = 0
    async with client(platform, user) as api:
        for field in ("prompt", "negative_prompt"):
            base = {k: v for k, v in QUICK_JOB.items() if k != field}
            for body in _bodies(field, base):
                _assert_refused(await _send(api, "POST", "/v1/generations", body), field)
                attempts += 1
        # h11 sends neither NUL nor ESC in a header (the gateway's unit tests do);
        # a tab inside a value and a NEL (obs-text) go through.
        for key in (b"key\t1", b"key\x851"):
            response = await api.post(
                "/v1/generations", json=QUICK_JOB, headers={"Idempotency-Key": key}
            )
            _assert_refused(response, "header.idempotency-key")
            attempts += 1
        assert await _events(platform, user) == 0

        accepted = await api.post("/v1/generations", json=QUICK_JOB | {"prompt": MULTI_LINE})
        assert accepted.status_code == 202, accepted.text
        (asset,) = await job_assets(api, accepted.json()["job_id"], 1)
        assert asset["original_prompt"] == MULTI_LINE  # projected: nothing stops the tables
    refused("control character in a generation request", attempts)


async def test_saving_with_refused_text_saves_nothing(platform: Platform):
    user = uuid.uuid4()
    attempts = 0
    async with client(platform, user) as api:
        first, _ = await seeded_assets(platform, api, user, 2)
        await settled(platform)
        before = await _events(platform, user)
        path = f"/v1/workspace/assets/{first['id']}/save"
        bodies = [
            *[("custom_title", body) for body in _bodies("custom_title")],
            *[("tags.0", body) for body in _bodies("tags", listed=True)],
            ("custom_title", json.dumps({"custom_title": MULTI_LINE})),
            ("tags.0", json.dumps({"tags": [MULTI_LINE]})),
        ]
        for field, body in bodies:
            _assert_refused(await _send(api, "POST", path, body), field)
            attempts += 1
        assert await _events(platform, user) == before
        assert all(item["library_asset_id"] is None for item in await workspace_items(api))
    refused("control character in a save", attempts)


async def test_library_edits_with_refused_text_change_nothing(platform: Platform):
    user = uuid.uuid4()
    attempts = 0
    async with client(platform, user) as api:
        (first,) = await seeded_assets(platform, api, user, 1)
        options = {"custom_title": "Tom", "tags": ["cat"]}
        saved = await api.post(f"/v1/workspace/assets/{first['id']}/save", json=options)
        assert saved.status_code == 200, saved.text
        (asset,) = await eventually(lambda: library_items(api))
        cats = await api.post(
            "/v1/library/collections", json={"name": "Cats", "description": MULTI_LINE}
        )
        assert cats.status_code == 201, cats.text
        assert cats.json()["description"] == MULTI_LINE
        await settled(platform)
        before = await _events(platform, user)
        collections = (await api.get("/v1/library/collections")).json()

        asset_path = f"/v1/library/assets/{asset['id']}"
        collection_path = f"/v1/library/collections/{cats.json()['id']}"
        attempts_by_route = [
            ("PATCH", asset_path, "custom_title", _bodies("custom_title")),
            ("PATCH", asset_path, "tags.0", _bodies("tags", listed=True)),
            ("POST", "/v1/library/collections", "name", _bodies("name")),
            (
                "POST",
                "/v1/library/collections",
                "description",
                _bodies("description", {"name": "x"}),
            ),
            ("PATCH", collection_path, "name", _bodies("name")),
            ("PATCH", collection_path, "description", _bodies("description")),
        ]
        for method, path, field, bodies in attempts_by_route:
            for body in bodies:
                _assert_refused(await _send(api, method, path, body), field)
                attempts += 1
        for method, path, field, body in [
            ("PATCH", asset_path, "custom_title", {"custom_title": MULTI_LINE}),
            ("PATCH", asset_path, "tags.0", {"tags": [MULTI_LINE]}),
            ("POST", "/v1/library/collections", "name", {"name": MULTI_LINE}),
            ("PATCH", collection_path, "name", {"name": MULTI_LINE}),
        ]:
            _assert_refused(await api.request(method, path, json=body), field)
            attempts += 1

        assert await _events(platform, user) == before
        assert _without_urls(await library_items(api)) == _without_urls([asset])
        assert (await api.get("/v1/library/collections")).json() == collections
    refused("control character in a library edit", attempts)


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/library/assets", "q"),
        ("/v1/library/assets", "tag"),
        ("/v1/library/assets", "cursor"),
        ("/v1/workspace/assets", "cursor"),
        ("/v1/generations", "cursor"),
    ],
)
async def test_query_parameters_with_control_characters_are_refused(
    platform: Platform, path: str, parameter: str
):
    """`?q=a%00b` reached PostgreSQL and came back as a 500."""
    async with client(platform) as api:
        for text in CONTROLS.values():
            _assert_refused(await api.get(path, params={parameter: text}), f"query.{parameter}")
    refused("control character in a query parameter", len(CONTROLS))
