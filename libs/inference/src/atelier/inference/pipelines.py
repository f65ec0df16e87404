"""What the GPU services' pipeline classes share: the device, dtype and memory the worker
reports, and pipeline calls made one at a time, each stoppable after any step.

torch is imported inside the functions only, so importing this module never needs torch.
"""

from __future__ import annotations

import threading
from typing import Any, NotRequired, TypedDict

from PIL import Image, ImageOps

from atelier.inference.device import module_memory_bytes
from atelier.inference.progress import StepHooks, run_interruptible


class CallArguments(TypedDict):
    """The keyword arguments every generation call of a GPU service takes, whatever the
    model: a job's spec (`RenderJob.arguments`), a test's or a benchmark's call."""

    prompt: str
    negative_prompt: str | None
    seed: int
    width: int
    height: int
    steps: int
    guidance_scale: float
    #: Progress, previews and the stop check; no hooks when left out.
    hooks: NotRequired[StepHooks]


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` as RGB, scaled and centre-cropped to width x height (no distortion): how a
    reference image or a video's frame enters a pipeline."""
    return ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)


class LoadedPipelines:
    """One or more diffusers pipelines on one device (`pipes`: those whose weights count;
    None for one that is not loaded).

    Calls are serialised by a lock: a pipeline object holds per-call state.
    """

    def __init__(self, *pipes: Any, device: str, dtype: Any) -> None:
        self.device = device
        self.dtype = dtype
        self.memory_bytes = module_memory_bytes(*(pipe for pipe in pipes if pipe is not None))
        self._lock = threading.Lock()

    def _call(self, pipe: Any, hooks: StepHooks, steps: int, **kwargs: Any) -> Any:
        """`pipe(**kwargs)` with PIL output, `hooks` called after each of its `steps` steps;
        raises `GenerationInterrupted` when they ask it to stop."""
        if steps < 1:
            raise ValueError("steps must be at least 1")
        kwargs |= {
            "num_inference_steps": steps,
            "output_type": "pil",
            "callback_on_step_end": hooks.callback(steps),
        }
        with self._lock:
            return run_interruptible(pipe, lambda: pipe(**kwargs))
