"""The tiny SDXL the unit tests render with, built once for all of them."""

from pathlib import Path

import pytest

from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.gpu_sdxl.tiny_model import build_tiny_sdxl


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sdxl(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture(scope="session")
def sdxl(model_dir: Path) -> SdxlPipeline:
    return SdxlPipeline.load(str(model_dir), device="cpu")
