"""The SDXL GPU worker: text-to-image and image-to-image with a diffusers SDXL pipeline."""
