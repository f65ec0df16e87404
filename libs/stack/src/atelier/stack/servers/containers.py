"""The three servers in Docker containers, through `testcontainers` (ATELIER_STACK=containers).

testcontainers is not a dependency: it is imported only here, and when it is missing or no
Docker engine answers, `start_container_servers` raises StackUnavailable with the reason, so
callers (and tests) can skip with it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
import shutil
import subprocess
from collections.abc import Callable

from .base import Endpoints, StackUnavailable
from .nats import probe_nats
from .process import wait_until_ready
from .s3 import s3_client

NATS_IMAGE = "nats:2.12"
POSTGRES_IMAGE = "postgres:17"
MINIO_IMAGE = "minio/minio:RELEASE.2025-04-22T22-12-26Z"


def container_stack_problem() -> str | None:
    """Why containers cannot be used here, or None when they can."""
    problems = []
    if importlib.util.find_spec("testcontainers") is None:
        problems.append("the testcontainers package is not installed")
    if engine := _docker_engine_problem():
        problems.append(engine)
    return "; ".join(problems) or None


def _docker_engine_problem() -> str | None:
    if importlib.util.find_spec("docker") is not None:
        import docker

        try:
            client = docker.from_env(timeout=5)
            client.ping()
            client.close()
        except Exception as exc:
            return f"no Docker engine answers ({type(exc).__name__}: {exc})"
        return None
    cli = shutil.which("docker")
    if cli is None:
        return "no Docker engine (neither the docker SDK nor the docker CLI is installed)"
    try:
        done = subprocess.run(
            [cli, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return "no Docker engine answers (docker info timed out)"
    if done.returncode != 0:
        return f"no Docker engine answers (docker info: {done.stderr.strip()[:300]})"
    return None


def start_container_servers() -> tuple[Endpoints, Callable[[], None]]:
    """Start NATS (-js), PostgreSQL and MinIO containers; returns endpoints and a stop function."""
    if problem := container_stack_problem():
        raise StackUnavailable(f"cannot start the container stack: {problem}")
    from testcontainers.core.container import DockerContainer
    from testcontainers.postgres import PostgresContainer

    access_key, secret_key = "atelier", secrets.token_hex(16)
    pg_password = secrets.token_hex(12)
    nats = DockerContainer(NATS_IMAGE).with_command("-js").with_exposed_ports(4222)
    postgres = PostgresContainer(
        POSTGRES_IMAGE, username="postgres", password=pg_password, dbname="atelier"
    )
    minio = (
        DockerContainer(MINIO_IMAGE)
        .with_command("server /data")
        .with_env("MINIO_ROOT_USER", access_key)
        .with_env("MINIO_ROOT_PASSWORD", secret_key)
        .with_exposed_ports(9000)
    )
    started: list = []

    def stop() -> None:
        for container in reversed(started):
            with contextlib.suppress(Exception):
                container.stop()
        started.clear()

    try:
        for container in (nats, postgres, minio):
            container.start()  # PostgresContainer waits until it accepts connections
            started.append(container)
        nats_host, nats_port = nats.get_container_host_ip(), int(nats.get_exposed_port(4222))
        wait_until_ready(lambda: probe_nats(nats_host, nats_port), what="nats", timeout=60)
        s3_url = f"http://{minio.get_container_host_ip()}:{minio.get_exposed_port(9000)}"
        client = s3_client(s3_url, access_key, secret_key)
        wait_until_ready(client.list_buckets, what="minio", timeout=60)
        pg_host, pg_port = postgres.get_container_host_ip(), postgres.get_exposed_port(5432)
    except BaseException:
        stop()
        raise
    endpoints = Endpoints(
        nats_url=f"nats://{nats_host}:{nats_port}",
        database_url=f"postgresql://postgres:{pg_password}@{pg_host}:{pg_port}/atelier",
        s3_endpoint_url=s3_url,
        s3_access_key=access_key,
        s3_secret_key=secret_key,
    )
    return endpoints, stop
