"""NATS (JetStream), PostgreSQL and S3 for `make up` and the tests.

    with EmbeddedServers(Path(".data")) as servers:      # embedded, from PyPI wheels
        env = servers.endpoints.as_env()
    EmbeddedServers(Path(".data"), nats_nodes=3)         # NATS as a 3-node JetStream cluster

    endpoints, stop = start_stack_servers(data_dir)      # external / containers / embedded

Every embedded server binds 127.0.0.1 on a free port, remembered in DATA/ports.json so a
restart (tomorrow's `make up`, a chaos test after kill()) comes back on the same ports.
"""

from .base import Endpoints, Server, ServerStartError, StackUnavailable
from .containers import container_stack_problem, start_container_servers
from .embedded import EmbeddedServers
from .external import endpoints_from_env
from .nats import EmbeddedNats
from .nats_cluster import EmbeddedNatsCluster, NatsClusterNode
from .ports import PortStore, port_is_free
from .postgres import EmbeddedPostgres
from .provider import start_stack_servers
from .s3 import EmbeddedS3

__all__ = [
    "EmbeddedNats",
    "EmbeddedNatsCluster",
    "EmbeddedPostgres",
    "EmbeddedS3",
    "EmbeddedServers",
    "Endpoints",
    "NatsClusterNode",
    "PortStore",
    "Server",
    "ServerStartError",
    "StackUnavailable",
    "container_stack_problem",
    "endpoints_from_env",
    "port_is_free",
    "start_container_servers",
    "start_stack_servers",
]
