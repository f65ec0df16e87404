"""The figures of each fault the suite injected, printed as one table at the end."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Figures:
    fault: str
    #: HTTP requests the load sent, retries included, and those a fault made fail (5xx,
    #: no answer) before a retry got through.
    requests: int = 0
    failed_requests: int = 0
    #: Generations accepted (202) and how each ended.
    accepted: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    #: Workspace and library actions that got an answer.
    actions: int = 0
    #: Seconds the process hit was down: from the fault until it was started again (by the
    #: suite, or by the supervisor) or woken up.
    down_s: float = 0.0
    #: Processes that came back: the one hit, and services still unready once it ran
    #: again; seconds from its restart until every service was ready and the workspace
    #: projection had caught up.
    recoveries: int = 0
    recover_s: float = 0.0
    #: Seconds from the recovery until every job had its outcome and the platform was at rest.
    settle_s: float = 0.0
    #: What the fault left to catch up on (events behind, for a paused projection).
    backlog: int = 0


FIGURES: list[Figures] = []


@dataclass
class ClusterFigures(Figures):
    """A fault of the NATS cluster's, with what clients saw of it."""

    #: Seconds the ATELIER_EVENTS stream had no leader, as a client polling its info every
    #: 0.1 s saw it (its own reconnection included), in all and at the longest.
    leaderless_s: float = 0.0
    longest_leaderless_s: float = 0.0
    #: How often the stream's leader changed.
    leader_changes: int = 0
    #: What the services' NATS clients logged: errors (the connection to a node that went,
    #: a refused attempt to reach it again) and reconnections to another node.
    nats_errors: int = 0
    reconnects: int = 0


CLUSTER_FIGURES: list[ClusterFigures] = []


def table(rows: list[Figures]) -> str:
    """The rows (all of one kind of Figures) and their totals, in aligned columns."""
    kind = type(rows[0])
    names = [f.name for f in fields(kind)]
    cells = [names, *([_cell(getattr(row, n)) for n in names] for row in rows)]
    totals = kind("total")
    for name in names[1:]:
        setattr(totals, name, sum(getattr(row, name) for row in rows))
    cells.append([_cell(getattr(totals, n)) for n in names])
    widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(line, widths, strict=True))) for line in cells]  # fmt: skip
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)
