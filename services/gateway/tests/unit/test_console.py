"""The web console is served at `/` from the package's files, every module it imports
resolves, and the API and operations routes keep answering as before."""

import re

import pytest
from fastapi.testclient import TestClient

from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.http import create_app


@pytest.fixture(scope="module")
def web() -> TestClient:
    """The app without its lifespan: static files and routing need no bus."""
    settings = GatewaySettings(
        jwt_secret="s" * 48, s3_public_endpoint_url="https://files.example.test:8443/"
    )
    return TestClient(create_app(settings))


def test_the_console_page_loads_its_entry_module(web):
    page = web.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js"></script>' in page.text
    assert web.get("/console.css").headers["content-type"].startswith("text/css")


def test_every_imported_module_is_served_as_javascript(web):
    pending, seen = ["app.js"], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        module = web.get(f"/{name}")
        assert module.status_code == 200, name
        assert module.headers["content-type"].startswith("text/javascript"), name
        pending += set(re.findall(r'from "\./([\w-]+\.js)"', module.text)) - seen
    modules = {"api.js", "dom.js", "generate.js", "jobs.js", "library.js", "workspace.js"}
    assert modules | {"detail.js", "share.js", "webhooks.js"} <= seen


def test_the_console_runs_only_its_own_scripts(web):
    """No inline script and no other origin's: what a user typed cannot run."""
    for path in ("/", "/app.js", "/console.css"):
        policy = web.get(path).headers["content-security-policy"]
        assert "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy
    assert "<script>" not in web.get("/").text


def test_the_console_shows_media_from_the_object_store_only(web):
    """Images and videos: this gateway, step previews (`data:`) and the object store's
    public origin (signed URLs), not any site a crafted URL could name."""
    policy = dict(
        directive.split(" ", 1)
        for directive in web.get("/").headers["content-security-policy"].split("; ")
    )
    assert policy["img-src"] == "'self' data: https://files.example.test:8443"
    assert policy["media-src"] == "'self' https://files.example.test:8443"


def test_the_api_is_not_shadowed(web):
    assert web.get("/healthz").json() == {"status": "ok"}
    assert "/v1/generations" in web.get("/openapi.json").json()["paths"]
    missing = web.get("/v1/no-such-route")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
