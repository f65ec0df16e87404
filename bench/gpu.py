"""`python -m bench.gpu`: the GPU services' measurements in one command, within a time budget.

On a CUDA GPU, with the full architectures in bfloat16 and random weights:

1. `bench.gpu_sdxl`: SDXL 1024x1024, 30 steps, at batch 1, 3 and 6, eager; DeepCache at
   batch 1 and 6; then compiled at batch 1, 3 and 6 (BENCH_COMPILE_MODE, here torch's
   "default": the service's max-autotune would spend most of the budget autotuning).
2. `bench.gpu_wan`: Wan 2.1 1.3B 832x480, 33 frames at 30 steps and 81 frames at 50 steps;
   First Block Cache on the 81 frames.
3. `bench.gpu_worker`: end to end through the worker process, a job in and a PNG out.

Each section gets a share of the budget (BENCH_GPU_BUDGET_S, 690 s: the whole run, model
building included, ends well within 15 minutes); a row starts only while its section has
time left (a compiled one: 150 s), and the report lists the rows it skipped. Without a GPU
the same sections run the tiny models on the CPU and say so. Writes
`bench/results/gpu-<device>.md` (e.g. `gpu-nvidia-h200.md`; `gpu-cpu.md` without a GPU) with
the machine described at the top.

    python -m bench.gpu [--output PATH]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import time
from pathlib import Path

from bench import RESULTS_DIR, Report, run_benchmarks

#: (module, seconds kept for the sections after it), in the order they run.
SECTIONS = (("gpu_sdxl", 300.0), ("gpu_wan", 130.0), ("gpu_worker", 0.0))

#: The settings of each section on a GPU (BENCH_* variables; the CPU keeps the defaults,
#: but for compiling, which the CPU runs skip).
GPU_SETTINGS = {
    "gpu_sdxl": {
        "BENCH_COMPILE": "1",
        "BENCH_COMPILE_MODE": "default",
        "BENCH_BASELINE": "0",
        "BENCH_RUNS": "2",
        "BENCH_WARMUP": "1",
    },
    "gpu_wan": {"BENCH_BASELINE": "0", "BENCH_RUNS": "1", "BENCH_WARMUP": "1"},
    "gpu_worker": {},
}


def _device_slug() -> str:
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name().lower()).strip("-")


def _free_gpu() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run(budget: float) -> Report:
    import torch

    started = time.time()
    report = Report()
    on_gpu = torch.cuda.is_available() and os.environ.get("BENCH_DEVICE", "auto") != "cpu"
    for name, kept in SECTIONS:
        saved = {key: os.environ.get(key) for key in (*GPU_SETTINGS[name], "BENCH_DEADLINE")}
        if on_gpu:
            os.environ.update(GPU_SETTINGS[name])
        os.environ["BENCH_DEADLINE"] = str(started + budget - kept)
        try:
            run_benchmarks(report, [name])
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _free_gpu()
    took = time.time() - started
    report.add(
        "GPU run",
        f"`python -m bench.gpu` took {took:.0f} s of its {budget:.0f} s budget "
        "(BENCH_GPU_BUDGET_S); rows it had no time for say so in their section.",
    )
    return report


def cli(argv: list[str] | None = None) -> None:
    """The command (not `main`: `python -m bench` runs the three sections on its own)."""
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    budget = float(os.environ.get("BENCH_GPU_BUDGET_S", "690"))
    report = run(budget)
    output = args.output or RESULTS_DIR / f"gpu-{_device_slug()}.md"
    print(report.render(), end="")
    print(f"bench: wrote {report.write(output)}")


if __name__ == "__main__":
    cli()
