"""Secrets the embedded servers generate once per data directory and keep private."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read (mode 0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def kept_secrets(path: Path, make: Callable[[], dict[str, str]]) -> dict[str, str]:
    """The secrets saved at `path`; those `make` names and the file lacks (a service added
    since the data directory was made) are made, and saved there first."""
    try:
        saved = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        saved = {}
    made = make()
    if made.keys() <= saved.keys():
        return saved
    kept = made | saved
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(kept, indent=2) + "\n")
    return kept
