"""`python -m atelier.gpu_sdxl`: load the SDXL pipeline, then consume SDXL jobs."""

from atelier.gpu_sdxl.config import SdxlSettings
from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.inference import service

if __name__ == "__main__":
    settings = SdxlSettings()
    service.main("gpu-sdxl", settings, lambda: SdxlRenderer(SdxlPipeline.from_settings(settings)))
