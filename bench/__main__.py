"""`python -m bench [NAME ...]`: run the benchmarks (all, or those named) and write
`bench/results/latest.md` (or `--output PATH`). See `bench/__init__.py` for the options."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import (
    RESULTS_DIR,
    Report,
    add_common_arguments,
    apply_common_arguments,
    run_benchmarks,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.md")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    apply_common_arguments(args)
    report = run_benchmarks(Report(), args.names)
    print(report.render(), end="")
    print(f"bench: wrote {report.write(args.output)}")


if __name__ == "__main__":
    main()
