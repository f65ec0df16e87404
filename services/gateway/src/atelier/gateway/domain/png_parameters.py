"""The generation parameters an uploaded PNG carries: what a GPU worker embeds in every
image it makes (`atelier.inference.media.encode_png`: compact JSON in an iTXt chunk keyed
`parameters`), read back as `AssetSettings` so "use these settings again" works from a
file too."""

from __future__ import annotations

import json
from typing import Any

from PIL import Image

from atelier.contracts.assets import AssetSettings

#: The chunk's key (the one `encode_png` writes, and A1111's too, whose text is not JSON).
PARAMETERS_KEY = "parameters"
#: A real chunk is a few kilobytes (two prompts of at most 2000 characters each).
MAX_PARAMETERS_CHARS = 64 * 1024


def png_parameters(image: Image.Image) -> AssetSettings | None:
    """The settings an opened (and loaded) PNG carries; None for any other image, and for a
    chunk that is missing, oversize, not a JSON object, or holds none of the known fields.
    A field that is not what a request takes (a control character in a prompt, a number
    out of bounds) is null; unknown keys are dropped. Never raises on what a file holds."""
    if image.format != "PNG":
        return None
    text = getattr(image, "text", {}).get(PARAMETERS_KEY)  # tEXt, zTXt, iTXt, after IDAT too
    if not isinstance(text, str) or len(text) > MAX_PARAMETERS_CHARS:
        return None
    try:
        value: Any = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, an integer of 5000 digits, [[[[…
        return None
    if not isinstance(value, dict):
        return None
    settings = AssetSettings.model_validate(value)
    if not settings.model_dump(exclude_none=True):
        return None
    return settings
