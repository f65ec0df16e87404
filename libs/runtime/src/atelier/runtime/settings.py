"""Settings every service shares, read from the environment (pydantic-settings).

A service subclasses `RuntimeSettings` with its own fields; nothing reads os.environ
elsewhere.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from atelier.contracts.scheduling import DEFAULT_TIER, DEFAULT_TIERS, TierPolicy

_TIER_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/atelier"
    s3_endpoint_url: str = "http://127.0.0.1:8333"
    #: The S3 endpoint browsers can reach, for presigned URLs; the internal one by default.
    s3_public_endpoint_url: str | None = None
    s3_access_key_id: str = "atelier"
    s3_secret_access_key: SecretStr = SecretStr("atelier-secret")
    s3_region: str = "us-east-1"
    log_level: str = "INFO"
    #: Port of /healthz and /readyz (services without an HTTP API); None: not served.
    health_port: int | None = None
    health_host: str = "127.0.0.1"
    #: Identifies this process in events (worker_id) and logs.
    instance_id: str = Field(default="", max_length=128)
    #: A projection this long without progress while events wait turns /readyz unready.
    projection_stall_seconds: float = Field(default=30.0, gt=0)
    #: Reactors: messages handled at once, and attempts before a failing one is
    #: dead-lettered (retried with a growing delay, up to 5 minutes: about 2 hours).
    reactor_concurrency: int = Field(default=8, ge=1, le=256)
    reactor_max_attempts: int = Field(default=30, ge=1)
    #: Presigned URLs are signed as of the start of a window this long, so a listing or an
    #: event stream gives the same URL for an object the whole window (browsers and CDNs
    #: cache what they fetched) and the signature is computed once; each URL then lives its
    #: lifetime plus up to one window. 0: signed as of now, each URL new.
    signed_url_window_seconds: int = Field(default=300, ge=0, le=3600)

    @property
    def presign_endpoint_url(self) -> str:
        return self.s3_public_endpoint_url or self.s3_endpoint_url


class WorkspaceUrlSettings(BaseSettings):
    """How long presigned URLs of workspace files work: the workspace's listings and the
    gateway's event stream (thumbnails of a finished job) sign the same objects."""

    thumbnail_url_seconds: int = Field(default=15 * 60, gt=0)
    file_url_seconds: int = Field(default=60 * 60, gt=0)


class TierSettings(BaseSettings):
    """The users' tiers (JSON in TIERS: {name: {weight, max_running, gpu_seconds_per_day,
    jobs_per_day}}): the gateway enforces their quotas, the scheduler their weights and
    caps. A user whose token names no tier, or one not listed, is in DEFAULT_TIER."""

    tiers: dict[str, TierPolicy] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    default_tier: str = DEFAULT_TIER

    @model_validator(mode="after")
    def _default_is_listed(self) -> Self:
        if self.default_tier not in self.tiers:
            raise ValueError(f"DEFAULT_TIER {self.default_tier!r} is not one of TIERS")
        if any(not _TIER_NAME.fullmatch(name) for name in self.tiers):
            raise ValueError("tier names are 1-32 of a-z, 0-9, _ and -")
        return self

    def tier_of(self, claimed: object) -> str:
        """The tier a token's claim names, if it is one of ours; else the default."""
        return claimed if isinstance(claimed, str) and claimed in self.tiers else self.default_tier

    def policy(self, tier: str | None) -> TierPolicy:
        return self.tiers[self.tier_of(tier)]
