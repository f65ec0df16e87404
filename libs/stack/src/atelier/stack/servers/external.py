"""Servers that already run elsewhere, named by the same variables the services read."""

from __future__ import annotations

from collections.abc import Mapping

from .base import Endpoints

REQUIRED = (
    "NATS_URL",
    "DATABASE_URL",
    "S3_ENDPOINT_URL",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
)


def endpoints_from_env(env: Mapping[str, str]) -> Endpoints | None:
    """Endpoints from NATS_URL, DATABASE_URL, S3_ENDPOINT_URL, S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY (and S3_REGION, optional); None when none of them is set.

    Setting only some of them is a mistake (half a stack would be started here) and raises
    ValueError naming the missing ones.
    """
    present = {name: env[name] for name in REQUIRED if env.get(name)}
    if not present:
        return None
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        raise ValueError(
            f"external servers half configured: {', '.join(sorted(present))} set but "
            f"{', '.join(missing)} missing; set all of {', '.join(REQUIRED)} or none"
        )
    return Endpoints(
        nats_url=present["NATS_URL"],
        database_url=present["DATABASE_URL"],
        s3_endpoint_url=present["S3_ENDPOINT_URL"],
        s3_access_key=present["S3_ACCESS_KEY_ID"],
        s3_secret_key=present["S3_SECRET_ACCESS_KEY"],
        s3_region=env.get("S3_REGION") or "us-east-1",
    )
