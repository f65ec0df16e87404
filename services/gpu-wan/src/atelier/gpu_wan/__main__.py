"""`python -m atelier.gpu_wan`: load the Wan pipelines, then consume Wan jobs."""

from atelier.gpu_wan.config import WanSettings
from atelier.gpu_wan.pipeline import WanPipelines
from atelier.gpu_wan.renderer import WanRenderer
from atelier.runtime import worker

if __name__ == "__main__":
    settings = WanSettings()
    worker.main(
        "gpu-wan",
        settings,
        lambda: WanRenderer(
            WanPipelines.load(settings.model, device=settings.device, dtype=settings.dtype)
        ),
    )
