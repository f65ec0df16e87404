"""Model folders: a diffusers folder built once, never seen half-written."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def build_model_dir(target: Path, build: Callable[[Path], None]) -> Path:
    """Create the diffusers folder `target` with `build(staging)` unless it already holds a
    `model_index.json`, and return `target`.

    `build` writes into a temporary sibling folder that is then renamed into place, so a crash
    never leaves a half-written model behind, and of two builders racing each other one wins
    and the other keeps the winner's copy.
    """
    target = Path(target)
    if (target / "model_index.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.building-{uuid.uuid4().hex[:12]}"
    try:
        build(staging)
        if not (staging / "model_index.json").exists():
            raise RuntimeError(f"building {target} wrote no model_index.json")
        try:
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
            staging.rename(target)
        except OSError:
            if not (target / "model_index.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
