"""`python -m atelier.gpu_sdxl`: load the SDXL pipeline, then consume SDXL jobs."""

import logging

from atelier.gpu_sdxl.config import SdxlSettings
from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.runtime import worker
from atelier.runtime.lifecycle import run_until_signalled
from atelier.runtime.logs import configure_logging

log = logging.getLogger("atelier.gpu_sdxl")


def main() -> None:
    settings = SdxlSettings()
    configure_logging("gpu-sdxl", settings.log_level)
    pipeline = SdxlPipeline.load(settings.model, device=settings.device, dtype=settings.dtype)
    log.info(
        "pipeline loaded",
        extra={
            "model": settings.model,
            "device": pipeline.device,
            "dtype": str(pipeline.dtype),
            "memory_mib": round(pipeline.memory_bytes / 2**20, 1),
        },
    )
    renderer = SdxlRenderer(pipeline)
    run_until_signalled(lambda stop: worker.serve(settings, renderer, stop))


if __name__ == "__main__":
    main()
