"""One spec per GPU benchmark, timed on either path.

A GPU benchmark says once what it times (`Workload`: the prompt, the guidance, the seed,
and a `Size` for each path) and which configurations (`Row`s: as served, baselines, compiled).
On a GPU it times them on the full architecture with random weights, on the CPU on the tiny
offline model; in both cases the model sits in the service's own pipeline class, loaded or
set up by the service's own functions, and the calls are the service's own.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.inference.device import placement
from atelier.inference.pipelines import CallArguments
from atelier.inference.progress import StepHooks
from bench._common import (
    Call,
    Settings,
    Timing,
    gib,
    measure,
    mib,
    quiet_libraries,
    rss,
    table,
    timing_rows,
)

if TYPE_CHECKING:
    import torch

    from bench import Report


def as_served(on_step: Callable[[int, int], None]) -> StepHooks:
    """The hooks the GPU workers pass: `on_step`, a preview sink (a small picture from the
    latents every 5 steps, which copies them to the CPU) and a stop check."""
    return StepHooks(
        on_step=on_step, should_stop=lambda: False, on_preview=lambda step, image: None
    )


def step_cache(
    pipeline: Any, kind: str, **options: Any
) -> Callable[[], AbstractContextManager[None]]:
    """A setting: the pipeline's step cache `kind` on, as the service's STEP_CACHE turns it on
    (`options`: its interval or threshold), then off again."""

    @contextmanager
    def setting() -> Iterator[None]:
        pipeline.enable_step_cache(kind, **options)
        try:
            yield
        finally:
            pipeline.disable_step_cache()

    return setting


@dataclass(frozen=True)
class Size:
    """How big the timed calls are on one path."""

    width: int
    height: int
    steps: int
    #: Images per call, a row each (image models).
    batches: tuple[int, ...] = (1,)
    #: Frames of each video (video models).
    frames: int | None = None

    def describe(self) -> str:
        frames = f", {self.frames} frames" if self.frames else ""
        return f"{self.width}x{self.height}{frames}, {self.steps} steps"


@dataclass(frozen=True)
class Workload:
    """What a benchmark times: the same calls and rows on both paths, only the sizes differ."""

    prompt: str
    negative_prompt: str
    guidance_scale: float
    seed: int
    #: The full architecture on a GPU.
    gpu: Size
    #: The tiny offline model on the CPU.
    cpu: Size
    #: What one denoising step runs, and what a call runs besides its steps (for the report).
    step: str
    outside: str
    #: "image" or "video": what one call makes.
    item: str
    #: The model on each path, in the report's words.
    full: str
    tiny: str

    def size(self, settings: Settings) -> Size:
        size = self.gpu if settings.on_gpu else self.cpu
        return replace(size, steps=settings.steps or size.steps)

    def arguments(self, size: Size, on_step: Callable[[int, int], None]) -> CallArguments:
        """The keyword arguments of one call at `size`, with the hooks the workers pass."""
        return CallArguments(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            seed=self.seed,
            width=size.width,
            height=size.height,
            steps=size.steps,
            guidance_scale=self.guidance_scale,
            hooks=as_served(on_step),
        )


@dataclass(frozen=True)
class Model:
    """The benchmark's model in the service's pipeline class, and what the report says of it."""

    #: The service's pipeline class (`SdxlPipeline`, `WanPipelines`) holding the model.
    pipeline: Any
    #: Parameters per component.
    parts: dict[str, int]
    #: Seconds to build (and on the CPU, save and load) it.
    built: float
    #: What the report says after its dtype (other dtypes, memory formats, kernels).
    detail: str = ""


@dataclass(frozen=True)
class Row:
    """One configuration timed: a row of the table."""

    label: str
    call: Call
    #: Images or videos per call.
    items: int
    #: Denoising steps per call.
    steps: int
    #: The label of the row it is compared with (per item), if any.
    versus: str | None = None
    #: Around its calls (another attention kernel, ...); none: as served.
    setting: Callable[[], AbstractContextManager[Any]] = nullcontext
    #: Whether its denoiser is compiled: one warm-up call, the one that compiles.
    compiles: bool = False
    #: Untimed calls before the timed ones; None: BENCH_WARMUP (a compiled row: one).
    warmup: int | None = None


def build(
    settings: Settings,
    full: Callable[[str, torch.dtype], Any],
    tiny: Callable[[Path, str], Any],
) -> tuple[Any, float]:
    """The service's pipeline class holding the path's model, and the seconds it took: on a
    GPU `full(device, dtype)` builds the full architecture in memory and sets it up with the
    service's own function; on the CPU `tiny(folder, device)` builds the tiny model into a
    temporary folder and loads it with the service's load function."""
    device, dtype = placement(settings.device, settings.dtype)
    start = time.perf_counter()
    if settings.on_gpu:
        pipeline = full(device, dtype)
    else:
        with tempfile.TemporaryDirectory() as folder:
            pipeline = tiny(Path(folder), device)
    return pipeline, time.perf_counter() - start


def run_workload(
    report: Report,
    title: str,
    workload: Workload,
    load: Callable[[Settings], Model],
    rows: Callable[[Settings, Model, Size], Iterable[Row]],
) -> None:
    """A GPU benchmark's `main`: `load` the model for the path the settings choose (the full
    architecture on a GPU, else the tiny model on the CPU with the benchmark's thread count),
    time its `rows` at that path's size and add the section to `report`."""
    quiet_libraries()
    settings = Settings.from_env()
    with nullcontext() if settings.on_gpu else settings.cpu_threads():
        report.add(title, _body(settings, workload, load(settings), rows))


#: Seconds a compiled row needs at least (compiling the denoiser takes minutes on a GPU).
COMPILE_RESERVE_S = 150.0


def seconds_left() -> float:
    """Seconds until BENCH_DEADLINE (a Unix time, set by `python -m bench.gpu` to keep the
    whole run within its budget); infinite when unset."""
    raw = os.environ.get("BENCH_DEADLINE", "").strip()
    return float(raw) - time.time() if raw else float("inf")


def _warmup(row: Row, settings: Settings) -> int:
    if row.warmup is not None:
        return row.warmup
    return 1 if row.compiles else settings.warmup


def _time(row: Row, settings: Settings) -> Timing | str:
    import torch

    left = seconds_left()
    if left <= 0 or (row.compiles and left < COMPILE_RESERVE_S):
        return f"{row.label}: skipped, {max(0.0, left):.0f} s of the time budget left"
    try:
        with row.setting():
            return measure(
                row.label,
                row.call,
                items=row.items,
                steps=row.steps,
                warmup=_warmup(row, settings),
                runs=settings.runs,
                device=settings.device,
            )
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return f"{row.label}: out of GPU memory"


def _body(
    settings: Settings,
    workload: Workload,
    model: Model,
    rows: Callable[[Settings, Model, Size], Iterable[Row]],
) -> str:
    size = workload.size(settings)
    timed = [(row, _time(row, settings)) for row in rows(settings, model, size)]
    timings = {row.label: result for row, result in timed if isinstance(result, Timing)}
    headers, cells = timing_rows(list(timings.values()), workload.item)
    lines = [
        _opening(settings, workload, model, size),
        "",
        table(headers, cells),
        "",
        _model_line(settings, model),
        f"- s / step: median gap between consecutive step ends ({workload.step}); "
        f"s outside the steps: {workload.outside}",
    ]
    lines += [f"- {result}" for _, result in timed if isinstance(result, str)]
    lines += _comparisons([row for row, _ in timed], timings, workload.item)
    lines += [
        f"- {row.label}: first call {result.warmup_walls[0]:.1f} s (compiling)"
        for row, result in timed
        if row.compiles and isinstance(result, Timing)
    ]
    return "\n".join(lines)


def _opening(settings: Settings, workload: Workload, model: Model, size: Size) -> str:
    import torch

    pipeline = model.pipeline
    dtype = str(pipeline.dtype).removeprefix("torch.")
    calls = (
        f"{size.describe()}, guidance {workload.guidance_scale}; {settings.warmup} warm-up + "
        f"{settings.runs} timed calls per row"
    )
    if settings.on_gpu:
        where = f"{pipeline.device} ({torch.cuda.get_device_name()})"
        return f"{workload.full} on {where}, {dtype}{model.detail}: {calls}."
    threads = torch.get_num_threads()
    return (
        f"{_why_cpu()}, so this times the **tiny configuration on CPU — not representative of "
        f"GPU speed**: {workload.tiny}, {dtype}{model.detail}, {calls}, {threads} torch thread(s) "
        "(BENCH_THREADS). It checks the code path and measures the pipeline's fixed overheads, "
        "nothing more."
    )


def _why_cpu() -> str:
    """Why it did not run on a GPU."""
    import torch

    if torch.cuda.is_available():
        return "BENCH_DEVICE=cpu was asked for"
    return "**No GPU is present** (torch.cuda.is_available() is False)"


def _count(parameters: int) -> str:
    return f"{parameters / 1e9:.3f} B" if parameters >= 10**8 else f"{parameters / 1e6:.2f} M"


def _model_line(settings: Settings, model: Model) -> str:
    parts = ", ".join(f"{name} {_count(count)}" for name, count in model.parts.items())
    weights = model.pipeline.memory_bytes
    if settings.on_gpu:
        return (
            f"- parameters: {parts}; weights {gib(weights)} on the GPU; built in "
            f"{model.built:.1f} s (checkpoint loading is not measured)"
        )
    return (
        f"- parameters: {parts}; weights {weights / 2**20:.2f} MiB; built and loaded in "
        f"{model.built:.1f} s; RSS after the runs {mib(rss())}"
    )


def _comparisons(rows: Sequence[Row], timings: dict[str, Timing], item: str) -> Iterator[str]:
    for row in rows:
        mine, theirs = timings.get(row.label), timings.get(row.versus or "")
        if mine is not None and theirs is not None:
            ratio = mine.per_item / theirs.per_item
            yield (
                f"- {row.label}: {ratio:.2f}x the time per {item} of {theirs.label} "
                f"({1 / ratio:.2f}x the {item}s per second)"
            )
