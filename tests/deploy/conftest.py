from __future__ import annotations

import pytest

from tests.deploy.k8s import K8S, OVERLAYS, render


@pytest.fixture(scope="session", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    """(name, rendered documents) of each overlay."""
    return request.param, render(K8S / "overlays" / request.param)
