"""`python -m atelier.gateway`: serve the HTTP API."""

import uvicorn

from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.http import create_app
from atelier.runtime.logs import configure_logging
from atelier.runtime.tracing import configure_tracing


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway")
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
