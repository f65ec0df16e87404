"""A JetStream cluster of nats-server nodes on 127.0.0.1, as production runs three.

Each node is an `EmbeddedNats` of its own: its store (DATA/nats-1 …), its configuration
(DATA/nats-1.conf) and its log (DATA/logs/nats-1.log); three ports each, remembered in
DATA/ports.json like every other server's: clients (`nats-1`), routes (`nats-1-routes`)
and monitoring (`nats-1-monitor`, for /healthz and /jsz). The nodes share the cluster
name `atelier`, the users of the single server (DATA/nats-credentials.json) and a route
password of their own (DATA/nats-routes.json); each routes to the others.

A node is ready when it answers NATS with JetStream on and its /healthz says JetStream
is current: a meta leader is known and every stream and consumer it holds has caught up
(what the Kubernetes startup probe waits for). So the cluster is ready when all of them
are, and a node restarted one by one is back in step before the next one goes.

Clients get every node in one URL, separated by commas (`url_for`), which
`atelier.runtime.bus.connect` reads as a list of servers to fail over between.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx

from atelier.contracts import permissions

from .group import ServerGroup
from .nats import EmbeddedNats, kept_passwords, refuse_other_shape
from .ports import HOST, PortStore
from .private import kept_secrets, write_private

#: The cluster's name, as in deploy/k8s/base/nats.yaml.
CLUSTER_NAME = "atelier"
#: The user the nodes' routes authenticate as.
ROUTE_USER = "route"


class NatsClusterNode(EmbeddedNats):
    """One node: `nats-N` in the data directory, `atelier-N` to the cluster."""

    #: Starting a node of a cluster that has lost its quorum waits for the others.
    start_timeout = 60.0
    other_store = "nats"

    def __init__(self, cluster: EmbeddedNatsCluster, index: int) -> None:
        self.name = f"nats-{index}"
        self.server_name = f"{CLUSTER_NAME}-{index}"
        self.cluster = cluster
        self.index = index
        self.route_port: int | None = None
        self.monitor_port: int | None = None
        super().__init__(cluster.data_dir)

    @property
    def port_names(self) -> dict[str, str]:
        return {"port": self.name, "route_port": f"{self.name}-routes",
                "monitor_port": f"{self.name}-monitor"}  # fmt: skip

    def take_ports(self, ports: dict[str, int]) -> None:
        for attribute, key in self.port_names.items():
            setattr(self, attribute, ports[key])

    def prepare(self) -> None:
        refuse_other_shape(self.data_dir, self.other_store)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.take_ports(self._ports.claim(self.port_names.values()))
        write_private(self.config_path, json.dumps(self._config(), indent=2) + "\n")

    def _config(self) -> dict:
        """The single server's (users and their rights), and the cluster: a route to
        every other node, the routes' own credentials, monitoring for /healthz."""
        routes = [
            f"nats://{ROUTE_USER}:{self.cluster.route_password}@{HOST}:{node.route_port}"
            for node in self.cluster.nodes
            if node is not self
        ]
        return super()._config() | {
            "http": f"{HOST}:{self.monitor_port}",
            "cluster": {
                "name": CLUSTER_NAME,
                "listen": f"{HOST}:{self.route_port}",
                "routes": routes,
                "authorization": {"user": ROUTE_USER, "password": self.cluster.route_password},
                "connect_retries": 120,
            },
        }

    @property
    def monitor_url(self) -> str:
        return f"http://{HOST}:{self.monitor_port}"

    def probe(self) -> None:
        """NATS with JetStream answers; /healthz says JetStream is current; and the meta
        group and every stream and consumer this node holds know their leader: /healthz
        is content before they have one (after a restart of the whole cluster, the
        streams elect theirs a few seconds later), and meanwhile their API times out."""
        super().probe()
        httpx.get(f"{self.monitor_url}/healthz", timeout=2.0).raise_for_status()
        jsz = (
            httpx.get(
                f"{self.monitor_url}/jsz",
                params={"accounts": "true", "streams": "true", "consumers": "true"},
                timeout=2.0,
            )
            .raise_for_status()
            .json()
        )
        if not (jsz.get("meta_cluster") or {}).get("leader"):
            raise ConnectionError("the cluster has no meta leader yet")
        for account in jsz.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                groups = [(f"stream {stream['name']}", stream)]
                groups += [
                    (f"consumer {c['name']}", c) for c in stream.get("consumer_detail") or []
                ]
                for what, group in groups:
                    if not (group.get("cluster") or {}).get("leader"):
                        raise ConnectionError(f"{what} has no leader yet")


class EmbeddedNatsCluster(ServerGroup):
    """`nodes` nats-server nodes in one cluster; the Server protocol over all of them."""

    name = "nats"

    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        if nodes < 2:
            raise ValueError(f"a cluster has at least 2 nodes (3 to survive one), not {nodes}")
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.passwords = kept_passwords(self.data_dir)
        self.route_password = kept_secrets(
            self.data_dir / "nats-routes.json", lambda: {ROUTE_USER: secrets.token_hex(24)}
        )[ROUTE_USER]
        self.nodes = [NatsClusterNode(self, index) for index in range(1, nodes + 1)]

    # -- the Server protocol -------------------------------------------------------------

    @property
    def members(self) -> list[NatsClusterNode]:
        return self.nodes

    def start(self) -> None:
        """Start every node at once (a node alone has no quorum)."""
        names = [key for node in self.nodes for key in node.port_names.values()]
        ports = PortStore(self.data_dir / "ports.json").claim(names)
        for node in self.nodes:
            node.take_ports(ports)
        super().start()

    # -- where clients connect -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The admin's URL (provisioning, tools, tests): every node, comma-separated."""
        return self.url_for(permissions.ADMIN)

    def url_for(self, identity: str) -> str:
        return ",".join(node.url_for(identity) for node in self.nodes)

    def identity_urls(self) -> dict[str, str]:
        return {identity: self.url_for(identity) for identity in permissions.IDENTITIES}

    @property
    def server_urls(self) -> list[str]:
        """Each node's address, without credentials (for people to read)."""
        return [f"nats://{HOST}:{node.port}" for node in self.nodes]

    def node(self, server_name: str) -> NatsClusterNode:
        """The node nats-server calls `server_name` (as in a stream's cluster info)."""
        for node in self.nodes:
            if node.server_name == server_name:
                return node
        raise KeyError(f"no node named {server_name!r} in {[n.server_name for n in self.nodes]}")
