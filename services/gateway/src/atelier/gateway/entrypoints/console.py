"""The web console: static files (HTML, ES modules, CSS) served at `/`.

It is a client of the public API like any other frontend: it has no endpoint of its own.
Mounted last, so every API and operations route is matched before it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

CONSOLE_DIR = Path(str(files("atelier.gateway") / "console"))

#: Scripts and styles only from the console's own files (no inline script, no CDN), so text
#: a user typed can never run even if it reached the page as markup; calls and the event
#: stream only to this gateway. Images and videos are the object store's signed URLs (its
#: own origin, which the gateway does not know) and step previews `data:` URLs.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: http: https:",
        "media-src 'self' http: https:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ConsoleFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount(app: FastAPI) -> None:
    app.mount("/", ConsoleFiles(directory=CONSOLE_DIR, html=True), name="console")
