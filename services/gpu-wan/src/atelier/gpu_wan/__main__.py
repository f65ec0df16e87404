"""`python -m atelier.gpu_wan`: load the Wan pipelines, then consume Wan jobs."""

from atelier.gpu_wan.config import WanSettings
from atelier.gpu_wan.pipeline import WanPipelines
from atelier.gpu_wan.renderer import WanRenderer
from atelier.inference import service

if __name__ == "__main__":
    settings = WanSettings()
    service.main("gpu-wan", settings, lambda: WanRenderer(WanPipelines.from_settings(settings)))
