"""Helpers shared by the GPU benchmarks: settings, timing, memory, model casting, tables
(what they time, on either path: `bench._workload`)."""

from __future__ import annotations

import os
import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Called with an on_step callback; runs one generation through the service's pipeline class.
Call = Callable[[Callable[[int, int], None]], Any]


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    device: str  # "cpu" or "cuda"
    dtype: str  # "auto", "float16", "bfloat16" or "float32" (as the services' DTYPE)
    compile: bool
    compile_mode: str | None  # None: the mode the service compiles with
    channels_last: bool
    runs: int
    warmup: int
    steps: int | None
    baseline: bool
    threads: int  # torch intra-op threads for CPU runs; 0: torch's default

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    @classmethod
    def from_env(cls) -> Settings:
        import torch

        device = os.environ.get("BENCH_DEVICE", "auto").strip().lower() or "auto"
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(
                f"BENCH_DEVICE must be auto, cpu or cuda (pick a GPU with CUDA_VISIBLE_DEVICES), "
                f"got {device!r}"
            )
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("BENCH_DEVICE asks for cuda but torch.cuda.is_available() is False")
        steps = _env_int("BENCH_STEPS", 0, minimum=0)
        return cls(
            device=device,
            dtype=os.environ.get("BENCH_DTYPE", "auto").strip().lower() or "auto",
            compile=_env_flag("BENCH_COMPILE", False),
            compile_mode=os.environ.get("BENCH_COMPILE_MODE", "").strip() or None,
            channels_last=_env_flag("BENCH_CHANNELS_LAST", False),
            # CPU runs are short and noisy: more of them.
            runs=_env_int("BENCH_RUNS", 3 if device == "cuda" else 5, minimum=1),
            warmup=_env_int("BENCH_WARMUP", 1, minimum=0),
            steps=steps or None,
            baseline=_env_flag("BENCH_BASELINE", True),
            threads=_env_int("BENCH_THREADS", 1, minimum=0),
        )

    @contextmanager
    def cpu_threads(self) -> Iterator[int]:
        """Run with `threads` torch threads (restored afterwards); yields the number used.
        One by default: the tiny models' operations are too small to gain from intra-op
        parallelism, and on a shared machine OpenMP threads that wait for each other turn
        each operation from microseconds into milliseconds."""
        import torch

        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            yield torch.get_num_threads()
        finally:
            torch.set_num_threads(previous)


def step_cache_rows() -> bool:
    """BENCH_STEP_CACHE (default on): time the services' step caches too."""
    return _env_flag("BENCH_STEP_CACHE", True)


def step_cache_interval() -> int:
    """BENCH_STEP_CACHE_INTERVAL: DeepCache's full-step interval (the service's default, 3)."""
    return _env_int("BENCH_STEP_CACHE_INTERVAL", 3, minimum=2)


def step_cache_threshold() -> float:
    """BENCH_STEP_CACHE_THRESHOLD: First Block Cache's threshold (the service's default)."""
    raw = os.environ.get("BENCH_STEP_CACHE_THRESHOLD", "").strip()
    return float(raw) if raw else 0.05


def quiet_libraries() -> None:
    """Silence the progress bars and info/warning logs of diffusers, transformers and
    huggingface_hub (building and saving the tiny models prints several)."""
    from diffusers.utils import logging as diffusers_logging
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    for logging in (diffusers_logging, transformers_logging):
        logging.set_verbosity_error()
        logging.disable_progress_bar()
    disable_progress_bars()


# -- timing -------------------------------------------------------------------------------


@dataclass
class Timing:
    """What `measure` saw for one configuration."""

    label: str
    items: int  # images or videos per call
    steps: int  # denoising steps per call (all its generations)
    walls: list[float]  # seconds per timed call
    step_gaps: list[float]  # seconds between consecutive step ends, all timed calls
    warmup_walls: list[float]  # seconds per warm-up call (the first includes any compilation)
    peak_gpu_bytes: int | None  # torch.cuda.max_memory_allocated over warm-up and timed calls
    peak_rss_bytes: int | None  # process peak RSS over warm-up and timed calls (CPU runs)

    @property
    def per_call(self) -> float:
        return statistics.median(self.walls)

    @property
    def per_item(self) -> float:
        return self.per_call / self.items

    @property
    def per_step(self) -> float | None:
        return statistics.median(self.step_gaps) if self.step_gaps else None

    @property
    def outside_loop(self) -> float | None:
        """Median call time not spent in denoising steps: text encoding, VAE decoding, the
        conversion to PIL images and the pipeline's own overhead."""
        if self.per_step is None:
            return None
        return max(0.0, self.per_call - self.per_step * self.steps)

    @property
    def spread(self) -> str:
        return f"{min(self.walls):.3f}–{max(self.walls):.3f}"


def measure(
    label: str,
    call: Call,
    *,
    items: int,
    steps: int,
    warmup: int,
    runs: int,
    device: str,
) -> Timing:
    """Run `call` warm-up + runs times; time each call and the gaps between step ends.
    `items` is the images or videos one call makes, `steps` its denoising steps in all.

    On CUDA the device is synchronised before and after each call and at each step end, so
    the times are the GPU's (the per-step synchronisation costs well under 1% at these sizes).
    """
    import torch

    cuda = device.startswith("cuda")
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    else:
        reset_peak_rss()
    walls: list[float] = []
    gaps: list[float] = []
    warm: list[float] = []
    for index in range(warmup + runs):
        marks: list[tuple[int, float]] = []

        def on_step(done: int, total: int, marks: list[tuple[int, float]] = marks) -> None:
            sync()
            marks.append((done, time.perf_counter()))

        sync()
        start = time.perf_counter()
        with warnings.catch_warnings():
            # Random weights can give NaN pixels; numpy warns when it casts them to uint8.
            warnings.simplefilter("ignore", RuntimeWarning)
            call(on_step)
        sync()
        wall = time.perf_counter() - start
        if index < warmup:
            warm.append(wall)
            continue
        walls.append(wall)
        # Gaps between step k and step k + 1 of one generation (a call may make several).
        gaps += [
            later - earlier
            for (step, earlier), (next_step, later) in pairwise(marks)
            if next_step == step + 1
        ]
    return Timing(
        label=label,
        items=items,
        steps=steps,
        walls=walls,
        step_gaps=gaps,
        warmup_walls=warm,
        peak_gpu_bytes=torch.cuda.max_memory_allocated() if cuda else None,
        peak_rss_bytes=None if cuda else peak_rss(),
    )


# -- memory -------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def rss() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss() -> int | None:
    """Peak RSS of this process since the last `reset_peak_rss` (or since it started)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * 1024


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (Linux: write 5 to /proc/self/clear_refs); where that
    is not possible the peak stays the process-wide one."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        pass


def gib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**30:.2f} GiB"


def mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"


# -- building full-size models with random weights -----------------------------------------


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def transformers_fp32_modules(model: Any, dtype: torch.dtype) -> list[str]:
    """The module names transformers' `from_pretrained(dtype=...)` keeps in float32:
    `_keep_in_fp32_modules` for float16, `_keep_in_fp32_modules_strict` for 16-bit dtypes."""
    import torch

    keep: list[str] = []
    if dtype == torch.float16:
        keep += list(getattr(model, "_keep_in_fp32_modules", None) or [])
    if dtype in (torch.float16, torch.bfloat16):
        keep += list(getattr(model, "_keep_in_fp32_modules_strict", None) or [])
    return keep


def cast_like_from_pretrained(model: Any, dtype: torch.dtype, keep_fp32: Iterable[str]) -> Any:
    """Cast the floating-point parameters and persistent buffers of `model` to `dtype`, one
    tensor at a time, except those with a name component in `keep_fp32`, which become float32.
    That is what diffusers' and transformers' `from_pretrained(dtype=...)` do with the weights
    they load; non-persistent buffers (rotary tables, ...) keep the dtype they were built in.
    Also puts the model in eval mode without gradients, as `from_pretrained` returns it."""
    import torch

    keep = set(keep_fp32)
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for name, param in module.named_parameters(recurse=False):
            if param.is_floating_point():
                target = torch.float32 if keep & set((prefix + name).split(".")) else dtype
                if param.dtype != target:
                    param.data = param.data.to(target)
        for name, buffer in list(module.named_buffers(recurse=False)):
            if name in module._non_persistent_buffers_set or not buffer.is_floating_point():
                continue
            target = torch.float32 if keep & set((prefix + name).split(".")) else dtype
            if buffer.dtype != target:
                module._buffers[name] = buffer.to(target)
    model.eval()
    model.requires_grad_(False)
    return model


def diffusers_model(model_class: type, config: dict[str, Any], dtype: torch.dtype) -> Any:
    """A diffusers model of `config` with random weights, in the dtypes its
    `from_pretrained(dtype=...)` gives: built in float32, then cast (keeping
    `_keep_in_fp32_modules`). Builds on torch's current device (`with torch.device(...)`)."""
    model = model_class(**config)
    return cast_like_from_pretrained(model, dtype, model._keep_in_fp32_modules or [])


def transformers_model(make: Callable[[], Any], dtype: torch.dtype) -> Any:
    """The transformers model `make()` builds with random weights, in the dtypes its
    `from_pretrained(dtype=...)` gives: built in `dtype`, then its float32 modules cast back."""
    with default_dtype(dtype):
        model = make()
    return cast_like_from_pretrained(model, dtype, transformers_fp32_modules(model, dtype))


def refuse_full_size_on_cpu(device: str, full_size: bool, what: str) -> None:
    """The full-size models are many GB: they are built on a GPU (or on "meta" to count
    parameters), never in CPU memory."""
    if full_size and not device.startswith(("cuda", "meta")):
        raise RuntimeError(f"the full-size {what} is built on a GPU only, not on {device!r}")


def parameter_count(*models: Any) -> int:
    return sum(p.numel() for model in models for p in model.parameters())


# -- markdown -----------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def seconds(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def timing_rows(timings: Sequence[Timing], item: str) -> tuple[list[str], list[list[str]]]:
    """A table of timings: per item, per step, time outside the loop, spread and memory."""
    gpu = any(t.peak_gpu_bytes is not None for t in timings)
    headers = [
        "configuration",
        f"s / {item} (median)",
        "s / step (median)",
        "s outside the steps",
        "s / call (min–max)",
        "timed calls",
        "peak GPU memory allocated (weights included)" if gpu else "peak RSS",
    ]
    rows = [
        [
            t.label,
            seconds(t.per_item),
            seconds(t.per_step, 4),
            seconds(t.outside_loop),
            t.spread,
            str(len(t.walls)),
            gib(t.peak_gpu_bytes) if gpu else mib(t.peak_rss_bytes),
        ]
        for t in timings
    ]
    return headers, rows
