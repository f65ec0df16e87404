"""The three embedded servers of one data directory, started and stopped together."""

from __future__ import annotations

from pathlib import Path

from .base import Endpoints
from .group import ServerGroup
from .nats import EmbeddedNats
from .nats_cluster import EmbeddedNatsCluster
from .postgres import EmbeddedPostgres
from .s3 import EmbeddedS3


class EmbeddedServers(ServerGroup):
    """NATS, PostgreSQL and S3 under one data directory:

    DATA/ports.json        the ports, reused on the next start while they are free
    DATA/logs/*.log        one log per server (and DATA/logs/weed/ for weed's own files)
    DATA/nats, DATA/postgres, DATA/s3, DATA/s3.json, DATA/s3-credentials.json

    With `nats_nodes` > 1, NATS is a JetStream cluster of that many nodes (DATA/nats-1 …,
    see nats_cluster.py) and its streams are meant to have 3 replicas.
    """

    def __init__(self, data_dir: Path, *, nats_nodes: int = 1) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.nats: EmbeddedNats | EmbeddedNatsCluster = (
            EmbeddedNats(self.data_dir)
            if nats_nodes == 1
            else EmbeddedNatsCluster(self.data_dir, nats_nodes)
        )
        self.postgres = EmbeddedPostgres(self.data_dir)
        self.s3 = EmbeddedS3(self.data_dir)

    @property
    def servers(self) -> tuple[EmbeddedNats | EmbeddedNatsCluster, EmbeddedPostgres, EmbeddedS3]:
        return (self.nats, self.postgres, self.s3)

    members = servers

    @property
    def endpoints(self) -> Endpoints:
        """Valid once started (ports are chosen at start)."""
        return Endpoints(
            nats_url=self.nats.url,
            database_url=self.postgres.url,
            s3_endpoint_url=self.s3.url,
            s3_access_key=self.s3.access_key,
            s3_secret_key=self.s3.secret_key,
            s3_region=self.s3.region,
            nats_identity_urls=self.nats.identity_urls(),
            stream_replicas=min(3, len(self.nats.nodes))
            if isinstance(self.nats, EmbeddedNatsCluster)
            else 1,
        )
