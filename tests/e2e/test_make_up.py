"""`make up`'s command, run twice on one data directory: it prints a URL and a token that
work, restarts a service killed behind its back, stops cleanly on Ctrl-C, and the second
run finds the first run's workspace, trusting the tokens of the operator's own secret and
identity provider (exported before it started) instead of its own."""

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from atelier.platform.local import DEMO_USER
from tests.identity_provider import ISSUER, IdentityProvider

pytestmark = pytest.mark.e2e


class Up:
    """`python -m atelier.platform up` in the background, read until it says it is up."""

    def __init__(self, data_dir, **exported: str) -> None:
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if k not in _EXTERNAL} | exported
        self.process = subprocess.Popen(
            [sys.executable, "-m", "atelier.platform", "up", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.output = self._read_until("Ctrl-C stops everything", timeout=240)
        self.url = re.search(r"gateway\s+(http://127\.0\.0\.1:\d+)", self.output)[1]
        self.token = re.search(r"demo token\s+(\S+)", self.output)[1]

    def _read_until(self, marker: str, timeout: float) -> str:
        deadline, lines = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if marker in line:
                return "".join(lines)
        self.process.kill()
        pytest.fail(f"make up did not print {marker!r}:\n" + "".join(lines))

    def kill_9(self, service: str) -> None:
        """SIGKILL a service's process group, as a crash would: no one but `make up` knows."""
        os.killpg(int((self.data_dir / "run" / f"{service}.pid").read_text()), signal.SIGKILL)
        told = self._read_until(f"supervisor: {service} is ready again", timeout=120)
        assert re.search(rf"supervisor: {service} was killed by SIGKILL .*; restart 1 in", told)

    def interrupt(self) -> str:
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, rest
        return rest

    def api(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )


_EXTERNAL = {"NATS_URL", "DATABASE_URL", "S3_ENDPOINT_URL", "ATELIER_STACK"}


def test_make_up_twice_keeps_yesterdays_workspace(tmp_path):
    first = Up(tmp_path / "data")
    try:
        assert "services are supervised: restarted with backoff if they exit" in first.output
        # its receivers are on this machine: webhooks may point at loopback, and it says so
        assert "WEBHOOK_ALLOW_PRIVATE_TARGETS=true" in first.output
        first.kill_9("gateway")
        with first.api() as api:
            job = api.post(
                "/v1/generations",
                json={"model": "sdxl", "prompt": "a lighthouse", "num_images": 2, "steps": 2},
            )
            assert job.status_code == 202, job.text
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                items = api.get("/v1/workspace/assets").json()["items"]
                if len(items) == 2:
                    break
                time.sleep(0.3)
            assert [item["width"] for item in items] == [128, 128]  # the tiny models' default
            assert api.get("/v1/admin/queue").status_code == 403
        admin_token = re.search(r"admin token\s+(\S+)", first.output)[1]
        with first.api(admin_token) as admin:
            assert admin.get("/v1/admin/queue").status_code == 200
    finally:
        stopped = first.interrupt()
    assert "Stopped" in stopped

    provider = IdentityProvider().start()
    operator_secret = "operator-" + "s" * 48
    second = Up(
        tmp_path / "data",
        JWT_SECRET=operator_secret,
        JWT_JWKS_URL=provider.jwks_url,
        JWT_ISSUER=ISSUER,
    )
    try:
        assert second.url == first.url, "the same ports when they are free"
        trust = re.search(r"tokens\s+(.+)", second.output)[1]
        assert trust == (
            f"HS256 with your JWT_SECRET (1 secret) and your identity provider's keys at "
            f"{provider.jwks_url}, issuer {ISSUER}"
        )
        with second.api(first.token) as api:
            refused = api.get("/v1/workspace/assets")
            assert refused.status_code == 401, "the generated secret no longer signs"
        from_provider = provider.token(DEMO_USER)
        for token in (second.token, from_provider):
            with second.api(token) as api:
                again = api.get("/v1/workspace/assets").json()["items"]
                assert [item["id"] for item in again] == [item["id"] for item in items]
        png = httpx.get(again[0]["file_url"], timeout=30)
        assert png.status_code == 200
        assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        second.interrupt()
        provider.stop()
