"""Schemathesis over the running gateway's OpenAPI document, valid and invalid input
alike: never a 5xx, and every 4xx is problem+json. Bounded: a fixed number of examples per
operation, against the loopback gateway only, as one authenticated user whose jobs are
cancelled afterwards (the GPU services are shared with the rest of the session)."""

from __future__ import annotations

import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from atelier.platform.local import Platform
from tests.security.figures import record

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 25
#: An event stream never ends, so it cannot be one fuzz case; tests/e2e covers it.
STREAMS = "/v1/events"
FUZZ_USER = uuid.uuid4()


@pytest.fixture(scope="module")
def gateway_schema(platform: Platform):
    loaded = schemathesis.openapi.from_url(f"{platform.gateway_url}/openapi.json")
    return loaded.include(path_regex=r"^/v1/").exclude(path=STREAMS)


@pytest.fixture(scope="module")
def fuzz_jobs(platform: Platform):
    """The jobs the fuzzer got queued; cancelled at the end, so no GPU renders them."""
    jobs: list[str] = []
    yield jobs
    with httpx.Client(base_url=platform.gateway_url, headers=_auth(platform)) as http:
        for job in jobs:
            assert http.post(f"/v1/generations/{job}/cancel").status_code in (202, 409)


def _auth(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.token(FUZZ_USER)}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_and_every_refusal_is_problem_json(
    gateway_schema, platform: Platform, fuzz_jobs: list[str], mode: GenerationMode
) -> None:
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    assert len(operations) >= 10  # the document was read, and the routes are in it
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:
            _check(case, platform, fuzz_jobs)

        fuzz()


def _check(case, platform: Platform, fuzz_jobs: list[str]) -> None:
    response = case.call(headers=_auth(platform), timeout=30)
    record("schemathesis cases run")
    record(f"schemathesis answers {response.status_code // 100}xx")
    what = f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, what
    if response.status_code >= 400:
        assert response.headers.get("content-type") == ["application/problem+json"], what
    elif case.method == "POST" and case.path == "/v1/generations":
        fuzz_jobs.append(response.json()["job_id"])
