"""Prints the security suite's figures (attacks refused, events dead-lettered, API cases
run) at the end of the test run."""

from __future__ import annotations

from tests.security.figures import FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("security figures")
    for name, count in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{count:6d}  {name}")
    total = sum(count for name, count in FIGURES.items() if name.startswith("attacks refused"))
    terminalreporter.write_line(f"{total:6d}  attacks refused in all")
