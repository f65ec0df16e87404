"""`python -m atelier.gateway`: serve the HTTP API."""

import socket

import uvicorn

from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.http import create_app
from atelier.runtime.logs import configure_logging
from atelier.runtime.tracing import configure_tracing

#: Connections the kernel holds for accept(): thousands of event streams may (re)connect
#: at once after a deploy.
BACKLOG = 4096


def listeners(settings: GatewaySettings) -> list[socket.socket]:
    """The shared address (with SO_REUSEPORT when processes share it), and this
    process's own port when one is set."""
    shared = socket.create_server(
        (settings.http_host, settings.http_port),
        backlog=BACKLOG,
        reuse_port=settings.http_reuse_port,
    )
    if settings.http_process_port is None:
        return [shared]
    own = socket.create_server((settings.http_host, settings.http_process_port), backlog=BACKLOG)
    return [shared, own]


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway")
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        backlog=BACKLOG,
    )
    uvicorn.Server(config).run(sockets=listeners(settings))


if __name__ == "__main__":
    main()
