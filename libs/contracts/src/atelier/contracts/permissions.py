"""Who may publish and subscribe to what on NATS: one identity per kind of service.

Each identity publishes only the events it owns, so a compromised GPU worker cannot
append `workspace.asset_added` and a compromised gateway cannot append
`generation.completed`. Streams are created and changed by `admin` only (provisioning,
`atelier rebuild`, tests); services get the read and consumer parts of the JetStream API.
Each identity's inboxes live under `_INBOX.{identity}`, so no one reads another's replies.
"""

from __future__ import annotations

from dataclasses import dataclass

from atelier.contracts import subjects
from atelier.contracts import webhook_events as webhook
from atelier.contracts import workspace_events as workspace
from atelier.contracts.generation import (
    OUTCOMES,
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationDispatched,
    GenerationRequested,
    GenerationStarted,
)
from atelier.contracts.library_events import ASSET_KIND, COLLECTION_KIND
from atelier.contracts.streams import ACTIVE_JOBS

ADMIN = "admin"
GATEWAY = "gateway"
WORKSPACE = "workspace"
LIBRARY = "library"
GPU = "gpu"
SCHEDULER = "scheduler"
WEBHOOKS = "webhooks"

#: What every service needs of JetStream: read streams, run consumers, ack, flow control.
JETSTREAM_CLIENT = (
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.>",
    "$JS.ACK.>",
    "$JS.FC.>",
)


def inbox_prefix(identity: str) -> str:
    """Where an identity's replies arrive (nats-py's `inbox_prefix`)."""
    return f"_INBOX.{identity}"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    #: May answer requests it received (RPC servers), whatever their reply subject.
    allow_responses: bool = False


def _service(identity: str, publish: tuple[str, ...], subscribe: tuple[str, ...] = (), **kw):
    return Permissions(
        publish=(*publish, *JETSTREAM_CLIENT, f"{subjects.DEAD_LETTER_ROOT}.*"),
        subscribe=(*subscribe, f"{inbox_prefix(identity)}.>"),
        **kw,
    )


def _server(identity: str, publish: tuple[str, ...], subscribe: tuple[str, ...] = ()):
    """A service with tables: it answers the requests on its RPC subjects and announces how
    far its projection has applied the log, besides what it names."""
    return _service(
        identity,
        publish=(*publish, f"{subjects.PROJECTED_ROOT}.*"),
        subscribe=(f"{subjects.RPC_ROOT}.{identity}.*", *subscribe),
        allow_responses=True,
    )


#: identity -> permissions; `admin` has none listed: it may do everything.
SERVICES: dict[str, Permissions] = {
    GATEWAY: _service(
        GATEWAY,
        publish=(
            subjects.generation_events(GenerationRequested.name),
            subjects.generation_events(GenerationCancelRequested.name),
            f"{subjects.LIMITS_ROOT}.>",
            ACTIVE_JOBS.subjects,
            f"{subjects.RPC_ROOT}.{WORKSPACE}.*",
            f"{subjects.RPC_ROOT}.{LIBRARY}.*",
            f"{subjects.RPC_ROOT}.{SCHEDULER}.*",
            f"{subjects.RPC_ROOT}.{WEBHOOKS}.*",
        ),
        subscribe=(f"{subjects.PROGRESS_ROOT}.*.*", f"{subjects.PROJECTED_ROOT}.*"),
    ),
    GPU: _service(
        GPU,
        publish=(
            *(subjects.generation_events(e.name) for e in (GenerationStarted, *OUTCOMES)),
            f"{subjects.PROGRESS_ROOT}.*.*",
            subjects.worker_capacity(),
        ),
        subscribe=(subjects.generation_events(GenerationCancelRequested.name),),
    ),
    # Dispatches jobs, and ends those cancelled before any worker saw them.
    SCHEDULER: _server(
        SCHEDULER,
        publish=(
            subjects.generation_events(GenerationDispatched.name),
            subjects.generation_events(GenerationCancelled.name),
        ),
        subscribe=(subjects.worker_capacity(),),
    ),
    WORKSPACE: _server(
        WORKSPACE,
        publish=(subjects.events_of(workspace.KIND), ACTIVE_JOBS.subjects),
        subscribe=(f"{subjects.PROGRESS_ROOT}.>",),
    ),
    LIBRARY: _server(
        LIBRARY, publish=(subjects.events_of(ASSET_KIND), subjects.events_of(COLLECTION_KIND))
    ),
    # Appends webhooks and the outcome of each delivery; reads the log like any service.
    WEBHOOKS: _server(
        WEBHOOKS,
        publish=(subjects.events_of(webhook.KIND), subjects.events_of(webhook.DELIVERY_KIND)),
    ),
}

IDENTITIES = (ADMIN, *SERVICES)
