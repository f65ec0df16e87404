"""What every provider of the three servers hands back: endpoints, and the Server protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class ServerStartError(RuntimeError):
    """A server did not start or did not become ready; the message ends with its log's tail."""


class StackUnavailable(RuntimeError):
    """This kind of stack cannot run here (e.g. no Docker engine); the message says why."""


@dataclass(frozen=True)
class Endpoints:
    """Where the three servers answer, and the S3 credentials."""

    nats_url: str
    database_url: str
    s3_endpoint_url: str
    s3_access_key: str
    s3_secret_key: str
    s3_region: str = "us-east-1"
    #: identity -> NATS URL with its credentials, where NATS has users (the embedded one);
    #: empty for an external NATS, whose `nats_url` every service then uses.
    nats_identity_urls: Mapping[str, str] = field(default_factory=dict)
    #: Copies of each stream these NATS servers can keep: 3 on a cluster of three or more
    #: nodes (whose URLs `nats_url` lists, comma-separated), 1 on a single server.
    stream_replicas: int = 1

    def nats_url_for(self, identity: str) -> str:
        return self.nats_identity_urls.get(identity, self.nats_url)

    def as_env(self) -> dict[str, str]:
        """The environment variables the services read (see atelier.runtime.settings)."""
        return {
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            "S3_ACCESS_KEY_ID": self.s3_access_key,
            "S3_SECRET_ACCESS_KEY": self.s3_secret_key,
            "S3_REGION": self.s3_region,
        }


@runtime_checkable
class Server(Protocol):
    name: str

    def start(self) -> None:
        """Start and block until a protocol-level probe succeeds; ServerStartError otherwise."""

    def stop(self) -> None:
        """Graceful stop (signal, wait, then SIGKILL); a no-op when not running."""

    def kill(self) -> None:
        """SIGKILL the server and everything it started (for chaos tests)."""

    @property
    def running(self) -> bool: ...
