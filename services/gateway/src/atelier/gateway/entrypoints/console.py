"""The web console: static files (HTML, ES modules, CSS) served at `/`.

It is a client of the public API like any other frontend: it has no endpoint of its own.
Mounted last, so every API and operations route is matched before it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

CONSOLE_DIR = Path(str(files("atelier.gateway") / "console"))


def content_security_policy(object_store_url: str) -> str:
    """Scripts and styles only from the console's own files (no inline script, no CDN), so
    text a user typed can never run even if it reached the page as markup; calls and the
    event stream only to this gateway; images and videos from this gateway, the object
    store's signed URLs (its public origin) and step previews' `data:` URLs."""
    store = urlsplit(object_store_url)
    origin = f"{store.scheme}://{store.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: {origin}",
            f"media-src 'self' {origin}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ConsoleFiles(StaticFiles):
    def __init__(self, *, policy: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = self.policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount(app: FastAPI, object_store_url: str) -> None:
    """`object_store_url`: where browsers fetch the signed URLs (S3_PUBLIC_ENDPOINT_URL)."""
    policy = content_security_policy(object_store_url)
    app.mount("/", ConsoleFiles(directory=CONSOLE_DIR, html=True, policy=policy), name="console")
