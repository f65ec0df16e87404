"""The web console: static files (HTML, ES modules, CSS) served at `/`.

It is a client of the public API like any other frontend: it has no endpoint of its own.
Mounted last, so every API and operations route is matched before it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

CONSOLE_DIR = Path(str(files("atelier.gateway") / "console"))


def mount(app: FastAPI) -> None:
    app.mount("/", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
