"""Ports, process plumbing and configuration of atelier.stack.servers (no servers needed)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from atelier.stack.servers import (
    Endpoints,
    PortStore,
    Server,
    ServerStartError,
    endpoints_from_env,
    port_is_free,
)
from atelier.stack.servers.nats import EmbeddedNats, nats_server_binary
from atelier.stack.servers.postgres import EmbeddedPostgres
from atelier.stack.servers.process import SubprocessServer, find_binary
from atelier.stack.servers.s3 import EmbeddedS3


def test_ports_are_saved_and_reused(tmp_path: Path) -> None:
    store = PortStore(tmp_path / "ports.json")
    first = store.claim(["a", "b"])
    assert len(set(first.values())) == 2
    assert json.loads((tmp_path / "ports.json").read_text()) == first
    assert PortStore(tmp_path / "ports.json").claim(["a", "b"]) == first


def test_a_saved_port_in_use_is_replaced(tmp_path: Path) -> None:
    store = PortStore(tmp_path / "ports.json")
    port = store.claim(["a"])["a"]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert not port_is_free(port)
        new = store.claim(["a"])["a"]
    assert new != port
    assert store.load() == {"a": new}


def test_two_stores_never_share_a_port(tmp_path: Path) -> None:
    one = PortStore(tmp_path / "one.json").claim([f"p{i}" for i in range(10)])
    two = PortStore(tmp_path / "two.json").claim([f"p{i}" for i in range(10)])
    assert not set(one.values()) & set(two.values())


def test_paired_ports_leave_room_for_the_offset(tmp_path: Path) -> None:
    port = PortStore(tmp_path / "ports.json").claim(["admin"], paired={"admin": 10000})["admin"]
    assert port + 10000 <= 65535
    assert port_is_free(port + 10000)


class Sleeper(SubprocessServer):
    """A child that prints, then never answers its probe (or exits with `code`)."""

    name = "sleeper"
    start_timeout = 0.5

    def __init__(self, data_dir: Path, code: int | None = None) -> None:
        super().__init__(data_dir)
        self.code = code

    def command(self) -> list[str]:
        tail = f"sys.exit({self.code})" if self.code is not None else "time.sleep(60)"
        return [sys.executable, "-c", f"import sys, time; print('boom', flush=True); {tail}"]

    def probe(self) -> None:
        raise ConnectionRefusedError("nobody home")


def test_start_timeout_names_the_probe_and_shows_the_log(tmp_path: Path) -> None:
    server = Sleeper(tmp_path)
    with pytest.raises(ServerStartError, match=r"(?s)not ready after.*nobody home.*boom"):
        server.start()
    assert not server.running
    assert not (tmp_path / "run" / "sleeper.pid").exists()


def test_exit_during_start_shows_code_and_log(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match=r"(?s)exited with code 3.*sleeper.log.*boom"):
        Sleeper(tmp_path, code=3).start()


def test_stop_and_kill_before_start_do_nothing(tmp_path: Path) -> None:
    server = Sleeper(tmp_path)
    server.stop()
    server.kill()
    assert not server.running


def test_embedded_servers_follow_the_protocol(tmp_path: Path) -> None:
    for cls in (EmbeddedNats, EmbeddedPostgres, EmbeddedS3):
        assert isinstance(cls(tmp_path), Server)


def test_s3_credentials_are_generated_once(tmp_path: Path) -> None:
    first = EmbeddedS3(tmp_path)
    again = EmbeddedS3(tmp_path)
    assert (first.access_key, first.secret_key) == (again.access_key, again.secret_key)
    assert (tmp_path / "s3-credentials.json").stat().st_mode & 0o077 == 0


def test_the_system_nats_server_is_never_used() -> None:
    binary = nats_server_binary()
    assert binary.parent == Path(sys.executable).parent
    with pytest.raises(FileNotFoundError, match="nats-server"):
        find_binary("nats-server", accept=lambda path: False)


def test_endpoints_from_env() -> None:
    assert endpoints_from_env({}) is None
    assert endpoints_from_env({"PATH": "/bin", "NATS_URL": ""}) is None
    endpoints = Endpoints("nats://n:1", "postgresql://p/db", "http://s3:2", "k", "s", "eu-west-1")
    assert endpoints_from_env(endpoints.as_env()) == endpoints
    with pytest.raises(ValueError, match="DATABASE_URL, S3_ENDPOINT_URL"):
        endpoints_from_env({"NATS_URL": "nats://n:1", "S3_ACCESS_KEY_ID": "k"})


class Napper(SubprocessServer):
    """Ready at once; its command line names its data directory, as the real servers' do."""

    name = "napper"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(60)", str(self.data_dir)]

    def probe(self) -> None:
        pass


def test_a_server_left_over_by_a_dead_parent_is_stopped_first(tmp_path: Path) -> None:
    orphan = Napper(tmp_path)
    orphan.start()
    assert orphan._proc is not None
    old = orphan._proc  # as if our process had died without stopping it
    orphan._proc = None
    successor = Napper(tmp_path)
    successor.start()
    try:
        assert old.wait(5) is not None
        assert successor.running
    finally:
        successor.stop()
    assert not successor.running


class Squatted(Sleeper):
    name = "squatted"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "print('bind: address already in use')"]


def test_a_port_taken_meanwhile_means_another_try(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="address already in use"):
        Squatted(tmp_path).start()
    log = (tmp_path / "logs" / "squatted.log").read_text()
    assert log.count("starting:") == 3
