"""The platform's services as child processes, each with a real readiness probe."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from atelier.stack.servers.ports import PortStore
from atelier.stack.servers.process import SubprocessServer

HOST = "127.0.0.1"


class ServiceProcess(SubprocessServer):
    """`python -m atelier.<module>`, ready when its /readyz answers 200."""

    start_timeout = 120.0
    stop_timeout = 20.0

    def __init__(
        self, name: str, module: str, data_dir: Path, env: Mapping[str, str], port_key: str
    ) -> None:
        self.name = name
        super().__init__(data_dir)
        self.module = module
        self.env = dict(env)
        self.port_key = port_key
        self.port = 0

    def prepare(self) -> None:
        self.port = PortStore(self.data_dir / "service-ports.json").claim([self.name])[self.name]
        self.env[self.port_key] = str(self.port)

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", self.module]

    def popen_kwargs(self) -> dict[str, Any]:
        return {"env": {**os.environ, **self.env, "INSTANCE_ID": self.name}}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def probe(self) -> None:
        httpx.get(f"{self.url}/readyz", timeout=2.0).raise_for_status()
