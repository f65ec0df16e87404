"""`atelier`: operations on a running platform.

    atelier rebuild workspace|library|scheduler|webhooks [--data-dir .data] [--processes N]

Settings come from the environment (NATS_URL, DATABASE_URL, …) as the services read
them; with --data-dir, from the `stack.env` that `make up` wrote there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from atelier.library.config import LibrarySettings
from atelier.library.projection import LibraryProjection
from atelier.runtime.bus import connect
from atelier.runtime.db import create_pool
from atelier.runtime.rebuild import rebuild
from atelier.runtime.rebuild_processes import RebuildProcesses
from atelier.scheduler.config import SchedulerSettings
from atelier.scheduler.usage import UsageProjection
from atelier.webhooks.config import WebhooksSettings
from atelier.webhooks.projection import WebhooksProjection
from atelier.workspace.config import WorkspaceSettings
from atelier.workspace.projection import WorkspaceProjection

PROJECTIONS = {
    "workspace": (WorkspaceSettings, WorkspaceProjection),
    "library": (LibrarySettings, LibraryProjection),
    "scheduler": (SchedulerSettings, UsageProjection),
    "webhooks": (WebhooksSettings, WebhooksProjection),
}


async def rebuild_service(name: str, processes: int) -> None:
    settings_type, projection_type = PROJECTIONS[name]
    settings = settings_type()
    nc = await connect(settings.nats_url, name=f"rebuild-{name}")
    pool = await create_pool(settings.database_url, settings.db_schema)
    try:
        report = await rebuild(
            js=nc.jetstream(),
            pool=pool,
            projection=projection_type(),
            schema=settings.db_schema,
            processes=None
            if processes == 1
            else RebuildProcesses(settings.nats_url, settings.database_url, processes),
        )
    finally:
        await pool.close()
        await nc.close()
    rows = ", ".join(f"{table}: {count}" for table, count in sorted(report.rows.items()))
    spread = (
        f", {processes} processes: {report.processes_cpu_seconds} s of CPU" if processes > 1 else ""
    )
    print(
        f"rebuilt {name} to log position {report.position} in {report.seconds} s{spread} ({rows})"
    )


def load_env_file(path: Path) -> None:
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            os.environ.setdefault(key.strip(), value.strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="atelier")
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild_parser = commands.add_parser(
        "rebuild", help="rebuild a service's tables from the log, then swap them in"
    )
    rebuild_parser.add_argument("service", choices=sorted(PROJECTIONS))
    rebuild_parser.add_argument("--data-dir", type=Path, help="a `make up` data directory")
    rebuild_parser.add_argument(
        "--processes",
        type=int,
        choices=range(1, 17),
        default=min(4, os.cpu_count() or 1),
        metavar="N",
        help="processes applying partitions side by side (1-16; default: up to 4, one a core)",
    )
    args = parser.parse_args(argv)
    if args.data_dir:
        env_file = args.data_dir / "stack.env"
        if not env_file.exists():
            sys.exit(f"{env_file} not found: is `make up` running with that data directory?")
        load_env_file(env_file)
    asyncio.run(rebuild_service(args.service, args.processes))


if __name__ == "__main__":
    main()
