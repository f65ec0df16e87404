"""The Kubernetes NATS users (kubernetes_authorization) as nats-server reads them: the
passwords come from the environment, and each identity has the rights the dev stack's has."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import nats
import pytest

from atelier.contracts import permissions
from atelier.stack.servers.nats import (
    kubernetes_authorization,
    nats_server_binary,
    password_variable,
    probe_nats,
)
from atelier.stack.servers.ports import HOST, PortStore

pytestmark = pytest.mark.integration

GPU_OUTCOME = "atelier.user.u1.generation.j1.sdxl.completed"
WORKSPACE_EVENT = "atelier.user.u1.workspace.a1.asset_added"


def password(identity: str) -> str:
    return f"{identity}0f3a9c"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(client port, monitoring port) of a nats-server configured as the Kubernetes nodes."""
    root = tmp_path_factory.mktemp("k8s-nats")
    (root / "auth.conf").write_text(kubernetes_authorization())
    ports = PortStore(root / "ports.json").claim(["client", "monitor"])
    port, monitor = ports["client"], ports["monitor"]
    (root / "nats.conf").write_text(
        f"listen: {HOST}:{port}\nhttp: {HOST}:{monitor}\n"
        f"jetstream {{ store_dir: {json.dumps(str(root / 'data'))} }}\n"
        "include ./auth.conf\n"
    )
    environment = {password_variable(i): password(i) for i in permissions.IDENTITIES}
    process = subprocess.Popen(
        [str(nats_server_binary()), "-c", str(root / "nats.conf")],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            probe_nats(HOST, port, user=permissions.ADMIN, password=password(permissions.ADMIN))
            break
        except OSError:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.1)
    yield port, monitor
    process.terminate()
    process.wait(timeout=10)


def publish(port: int, identity: str, subject: str, secret: str | None = None) -> str:
    """Connect as `identity`, publish to `subject`; the server's answer up to PONG."""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        stream = sock.makefile("rb")
        stream.readline()  # INFO
        connect = {"verbose": False, "user": identity, "pass": secret or password(identity)}
        sock.sendall(f"CONNECT {json.dumps(connect)}\r\nPUB {subject} 0\r\n\r\nPING\r\n".encode())
        lines = []
        while not (line := stream.readline()).startswith(b"PONG") and line:
            lines.append(line.decode().strip())
        return " ".join(lines)


def test_every_identity_signs_in_with_the_password_from_its_variable(server):
    port, _ = server
    for identity in permissions.IDENTITIES:
        probe_nats(HOST, port, user=identity, password=password(identity))
    assert "Authorization Violation" in publish(port, permissions.GPU, GPU_OUTCOME, "wrong")
    with pytest.raises(ConnectionError):
        probe_nats(HOST, port)  # no user at all


def test_each_identity_publishes_what_it_owns_and_nothing_else(server):
    port, _ = server
    assert publish(port, permissions.GPU, GPU_OUTCOME) == ""
    assert "Permissions Violation" in publish(port, permissions.GPU, WORKSPACE_EVENT)
    assert publish(port, permissions.WORKSPACE, WORKSPACE_EVENT) == ""
    assert "Permissions Violation" in publish(port, permissions.WORKSPACE, GPU_OUTCOME)
    assert "Permissions Violation" in publish(port, permissions.GATEWAY, GPU_OUTCOME)
    assert "Permissions Violation" in publish(port, permissions.LIBRARY, "$JS.API.STREAM.CREATE.X")
    assert publish(port, permissions.ADMIN, "$JS.API.STREAM.NAMES") == ""


async def test_monitoring_shows_consumer_lag_in_the_global_account_as_keda_reads_it(server):
    """KEDA's nats-jetstream scaler reads /jsz of account `$G` on the monitoring port."""
    port, monitor = server
    admin = f"nats://{permissions.ADMIN}:{password(permissions.ADMIN)}@{HOST}:{port}"
    nc = await nats.connect(admin)
    try:
        js = nc.jetstream()
        await js.add_stream(name="LAG", subjects=["atelier.user.>"])
        await js.add_consumer("LAG", durable_name="gpu-sdxl", filter_subject=GPU_OUTCOME)
        await js.publish(GPU_OUTCOME, b"{}")
    finally:
        await nc.close()
    params = {"acc": "$G", "consumers": "true", "config": "true"}
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(f"http://{HOST}:{monitor}/jsz", params=params)
    (account,) = answer.json()["account_details"]
    assert account["name"] == "$G"
    (stream,) = account["stream_detail"]
    (consumer,) = stream["consumer_detail"]
    assert (consumer["name"], consumer["num_pending"]) == ("gpu-sdxl", 1)
