"""A bounded stream of generations and workspace/library actions through the gateway,
as a patient client sends them: a request that a fault answers with a 5xx (or not at
all) is sent again, a submit with the same Idempotency-Key, until a deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import httpx

from atelier.contracts import subjects
from atelier.contracts.streams import EVENTS
from atelier.platform.local import Platform
from tests.helpers import bus, client

#: Tiny jobs: the model is not under test, the platform around it is.
SDXL = {"model": "sdxl", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2,
        "num_images": 2}  # fmt: skip
WAN = {"model": "wan", "mode": "video", "prompt": "waves", "width": 64, "height": 64,
       "steps": 2, "num_frames": 5}  # fmt: skip
#: Answers a fault may give before the platform is back; the client tries again.
TRANSIENT = {502, 503, 504}
#: A job's status once it has its outcome.
ENDED = {"completed", "failed", "cancelled"}
#: Answers an action may get when it races another (an asset already gone, or saved).
REFUSALS = {404, 409}


@dataclass
class Load:
    user: uuid.UUID
    jobs: int
    #: Seconds a request is retried for before the load gives up on it.
    patience: float = 180.0
    requests: int = 0
    failed_requests: int = 0
    actions: int = 0
    accepted: list[str] = field(default_factory=list)
    #: Answers no retry fixed (after the patience ran out): the suite fails on any.
    unexpected: list[str] = field(default_factory=list)
    #: Gateway replicas to send the requests to in turn, a retry to the next one (no load
    #: balancer in front of them here); empty: the platform's gateway.
    gateways: list[str] = field(default_factory=list)
    _accepted_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, platform: Platform) -> None:
        """Submit the jobs one after another; after each, act on the assets made so far."""
        async with client(platform, self.user) as api:
            polling = asyncio.create_task(self._poll(api))
            try:
                await self._submit_and_act(api, platform)
            finally:
                polling.cancel()

    async def _poll(self, api: httpx.AsyncClient) -> None:
        """Follow the newest job's status as a frontend does, faults or not."""
        while True:
            if self.accepted:
                await self._send(api, "GET", f"/v1/generations/{self.accepted[-1]}")
            await asyncio.sleep(0.25)

    async def _submit_and_act(self, api: httpx.AsyncClient, platform: Platform) -> None:
        collection = await self._send(api, "POST", "/v1/library/collections", json={"name": "c"})
        for n in range(self.jobs):
            job = await self._submit(api, WAN if n == 1 else SDXL | {"seed": n}, str(n))
            if job and n == 2:  # the user changes their mind at once: cancelled (or done)
                await self._send(api, "POST", f"/v1/generations/{job}/cancel")
            await self._act(api, platform, n, collection)

    async def _submit(self, api: httpx.AsyncClient, body: dict, key: str) -> str | None:
        headers = {"Idempotency-Key": f"{self.user}-{key}"}
        accepted = await self._send(api, "POST", "/v1/generations", json=body, headers=headers)
        if accepted is None:
            return None
        self.accepted.append(accepted["job_id"])
        self._accepted_event.set()
        return accepted["job_id"]

    async def wait_accepted(self, count: int, timeout: float = 120.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.accepted) < count:
                self._accepted_event.clear()
                await self._accepted_event.wait()

    async def _act(self, api, platform: Platform, n: int, collection: dict | None) -> None:
        """Save, discard, clear, move and delete in turn, on the previous job's assets."""
        if n == 0 or not self.accepted[:-1]:
            return
        job = self.accepted[-2]
        if not await self._ended(api, platform, job):
            return
        items = await self._send(api, "GET", "/v1/workspace/assets", params={"limit": 100})
        mine = [item for item in (items or {}).get("items", []) if item["job_id"] == job]
        target = collection["id"] if collection else None
        if images := [item for item in mine if item["asset_type"] == "image"]:
            # A job reading an image the actions below may delete: completed, or failed
            # with the reason, depending on which comes first.
            reference = {"asset_id": images[0]["id"], "mode": "exact_copy"}
            body = SDXL | {"reference_image": reference, "steps": 6, "num_images": 1}
            await self._submit(api, body, f"ref-{n}")
        for i, item in enumerate(mine):
            match (n + i) % 3:
                case 0:
                    await self._send(api, "POST", f"/v1/workspace/assets/{item['id']}/save",
                                     json={"collection_id": target, "tags": ["chaos"]})  # fmt: skip
                case 1:
                    await self._send(api, "DELETE", f"/v1/workspace/assets/{item['id']}")
                case 2:
                    await self._send(api, "POST", "/v1/workspace/clear", json={"job_id": job})
        library = await self._send(api, "GET", "/v1/library/assets", params={"limit": 100})
        for i, item in enumerate((library or {}).get("items", [])[:2]):
            if (n + i) % 2:
                await self._send(api, "DELETE", f"/v1/library/assets/{item['id']}")
            else:
                moved = None if item["collection_id"] else target
                await self._send(api, "PATCH", f"/v1/library/assets/{item['id']}",
                                 json={"collection_id": moved, "is_favorite": True})  # fmt: skip

    async def _ended(self, api: httpx.AsyncClient, platform: Platform, job: str) -> bool:
        """Follow the job's status until it has ended; its assets are listed from then on."""
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            status = await self._send(api, "GET", f"/v1/generations/{job}")
            if status and status["status"] in ENDED:
                return True
            await asyncio.sleep(0.25)
        history = await job_events(platform, self.user, job)
        self.unexpected.append(f"job {job}: not ended in {self.patience} s: {history}")
        return False

    async def _send(self, api: httpx.AsyncClient, method: str, path: str, **kwargs) -> dict | None:
        """The answer's body once the platform gives a real one (None for a refusal)."""
        deadline = time.monotonic() + self.patience
        while True:
            self.requests += 1
            gateway = self.gateways[self.requests % len(self.gateways)] if self.gateways else ""
            try:
                response = await api.request(method, gateway + path, **kwargs)
            except httpx.TransportError:
                status, text = None, "no answer"
            else:
                status, text = response.status_code, response.text
            if status is not None and status < 300:
                self.actions += method != "GET" and path != "/v1/generations"
                return response.json()
            if status in REFUSALS and path != "/v1/generations":
                return None
            if status is not None and status not in TRANSIENT:
                self.unexpected.append(f"{method} {path}: {status} {text[:200]}")
                return None
            self.failed_requests += 1
            if time.monotonic() > deadline:
                self.unexpected.append(f"{method} {path}: still {status} {text[:200]}")
                return None
            await asyncio.sleep(0.5)


async def job_events(platform: Platform, user: uuid.UUID, job: str) -> dict[str, int]:
    """The events of one job on the log, by name (for a failure's message)."""
    events = await bus(platform)
    try:
        history = subjects.generation_history(user, uuid.UUID(job))
        info = await events.js.stream_info(EVENTS.name, subjects_filter=history)
        return {s.rsplit(".", 1)[-1]: n for s, n in (info.state.subjects or {}).items()}
    finally:
        await events.nc.close()
