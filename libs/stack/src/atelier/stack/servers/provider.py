"""Which servers to use: external (env), containers (ATELIER_STACK=containers) or embedded."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from .base import Endpoints
from .containers import start_container_servers
from .embedded import EmbeddedServers
from .external import endpoints_from_env

#: ATELIER_STACK: "auto" (default: external when NATS_URL... are set, else embedded),
#: "embedded" (ignore those variables), "external" (require them) or "containers".
MODES = ("auto", "embedded", "external", "containers")


def start_stack_servers(
    data_dir: Path, env: Mapping[str, str] = os.environ, *, nats_nodes: int = 1
) -> tuple[Endpoints, Callable[[], None]]:
    """Start (or find) NATS, PostgreSQL and S3; returns their endpoints and a stop function.

    data_dir and nats_nodes (a JetStream cluster of that many nodes when more than one)
    are for the embedded servers only. Raises StackUnavailable for containers
    without Docker or testcontainers, ValueError for a half-set or unknown configuration.
    """
    mode = env.get("ATELIER_STACK") or "auto"
    if mode not in MODES:
        raise ValueError(f"ATELIER_STACK={mode!r}: expected one of {', '.join(MODES)}")
    if mode == "containers":
        return start_container_servers()
    if mode != "embedded":
        external = endpoints_from_env(env)
        if external is not None:
            return external, lambda: None
        if mode == "external":
            raise ValueError("ATELIER_STACK=external but NATS_URL, DATABASE_URL, ... are not set")
    servers = EmbeddedServers(data_dir, nats_nodes=nats_nodes)
    servers.start()
    return servers.endpoints, servers.stop
