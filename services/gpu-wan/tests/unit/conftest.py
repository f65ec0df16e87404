"""The tiny Wan models the unit tests render with, built once for all of them."""

from pathlib import Path

import pytest

from atelier.gpu_wan.tiny_model import build_tiny_wan, build_tiny_wan_i2v


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "t2v": build_tiny_wan(root / "wan-t2v"),
        "i2v": build_tiny_wan_i2v(root / "wan21-i2v"),
        "i2v22": build_tiny_wan_i2v(root / "wan22-i2v", variant="wan2.2"),
    }
