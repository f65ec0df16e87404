"""`python -m atelier.gpu_sdxl`: load the SDXL pipeline, then consume SDXL jobs."""

from atelier.gpu_sdxl.config import SdxlSettings
from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.inference import service

if __name__ == "__main__":
    settings = SdxlSettings()
    service.main(
        "gpu-sdxl",
        settings,
        lambda: SdxlRenderer(
            SdxlPipeline.load(
                settings.model,
                device=settings.device,
                dtype=settings.dtype,
                compile_unet=settings.torch_compile,
                channels_last=settings.channels_last,
                step_cache=settings.step_cache,
                step_cache_interval=settings.step_cache_interval,
            )
        ),
    )
