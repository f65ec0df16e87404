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
    """The secrets saved at `path`, or new ones from `make`, saved there first."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        pass
    made = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(made, indent=2) + "\n")
    return made
