from pathlib import Path

import pytest

from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.http import create_app
from tests.contracts import tools


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """`tools/contract-checks` with the AsyncAPI parser and Redocly installed (npm ci)."""
    return tools.node_tools()


@pytest.fixture(scope="session")
def openapi_document() -> dict:
    """The gateway's OpenAPI document, as the app serves it at /openapi.json."""
    return create_app(GatewaySettings(jwt_secret="only-the-document-is-read" * 2)).openapi()
