"""What the worker's integration tests share: the tiny SDXL behind the real renderer (built
once), and the workspace bucket on the test's S3."""

import pytest

from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.gpu_sdxl.tiny_model import build_tiny_sdxl
from atelier.runtime.objects import ObjectStore
from atelier.runtime.settings import RuntimeSettings


@pytest.fixture(scope="session")
def renderer(tmp_path_factory) -> SdxlRenderer:
    model = build_tiny_sdxl(tmp_path_factory.mktemp("models") / "tiny-sdxl")
    return SdxlRenderer(SdxlPipeline.load(str(model), device="cpu", dtype="float32"))


@pytest.fixture
async def objects(servers):
    settings = RuntimeSettings(**{k.lower(): v for k, v in servers.as_env().items()})
    async with ObjectStore(settings) as store:
        await store.ensure_bucket(WORKSPACE_BUCKET)
        yield store
