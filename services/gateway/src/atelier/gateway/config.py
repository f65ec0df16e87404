from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from atelier.contracts.generation import MAX_IMAGES
from atelier.runtime.settings import RuntimeSettings, TierSettings, WorkspaceUrlSettings


class GatewaySettings(RuntimeSettings, WorkspaceUrlSettings, TierSettings):
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    #: Several gateway processes on one host share HTTP_PORT when set (SO_REUSEPORT: the
    #: kernel spreads new connections over them; each process is supervised on its own,
    #: so one killed leaves the others serving). Each also listens alone on
    #: HTTP_PROCESS_PORT, where its probes and /metrics are its own.
    http_reuse_port: bool = False
    http_process_port: int | None = Field(default=None, ge=1, le=65535)
    #: Who may sign users' tokens (at least one of the two; see atelier.gateway.auth):
    #: HS256 secrets (a comma list, and the previous one during a rotation) …
    jwt_secret: SecretStr | None = None
    jwt_secret_previous: SecretStr | None = None
    #: … and/or the identity provider's JWKS endpoint (RS256, ES256, EdDSA by `kid`).
    jwt_jwks_url: str | None = None
    #: Checked when set; the audience always (Supabase's is `authenticated`).
    jwt_issuer: str | None = None
    jwt_audience: str = "authenticated"
    #: Clocks differ: `exp`, `nbf` and `iat` are allowed this much off.
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    #: The claim that names the user: a UUID, or any other string (mapped to one).
    jwt_user_claim: str = Field(default="sub", min_length=1)
    #: The claim that names the user's tier (one of TIERS; anything else: DEFAULT_TIER) …
    jwt_tier_claim: str = Field(default="tier", min_length=1)
    #: … and the one whose value (a string or a list) holds JWT_ADMIN_ROLE for an
    #: administrator (every user's usage, the whole queue).
    jwt_role_claim: str = Field(default="roles", min_length=1)
    jwt_admin_role: str = Field(default="atelier-admin", min_length=1)
    #: Per user, over every gateway replica: jobs queued or running at once, and submits
    #: a minute (beyond either: 429 with Retry-After).
    max_active_jobs_per_user: int = Field(default=10, ge=1)
    submits_per_minute_per_user: int = Field(default=60, ge=1)
    #: Share links and the public gallery: the address people reach this API at (behind a
    #: proxy, e.g. https://atelier.example.com); unset, each request's own base URL.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+$")
    #: Requests a minute per client address to the routes anyone may call (`/s/…`,
    #: `/v1/shared/…`, `/v1/public/…`), over every replica (beyond: 429 with Retry-After).
    #: The address is the connection's peer, or what a proxy named in uvicorn's
    #: FORWARDED_ALLOW_IPS says in X-Forwarded-For.
    anonymous_requests_per_minute: int = Field(default=120, ge=1)
    #: A comment line on idle event streams, so proxies keep them open.
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    #: How long an event may wait for the workspace and library tables to show it.
    sse_projection_wait_seconds: float = Field(default=5.0, ge=0)
    #: Sizes used when a request leaves them out: the models' native ones by default;
    #: the dev stack with its tiny models lowers them.
    sdxl_default_size: int = Field(default=1024, ge=64, le=2048, multiple_of=8)
    wan_default_width: int = Field(default=832, ge=64, le=2048, multiple_of=16)
    wan_default_height: int = Field(default=480, ge=64, le=2048, multiple_of=16)
    wan_default_frames: int = Field(default=33, ge=1, le=129)
    wan_fps: int = Field(default=16, ge=1, le=60)
    #: What the GPU services' devices can make: set these to what the deployed GPUs hold
    #: (a job beyond them gets 422 at once instead of failing out of memory on a worker).
    #: The largest width and height, the images (or videos) of one job, a video's frames.
    sdxl_max_size: int = Field(default=2048, ge=64, le=2048)
    wan_max_size: int = Field(default=2048, ge=64, le=2048)
    max_images_per_job: int = Field(default=MAX_IMAGES, ge=1, le=MAX_IMAGES)
    wan_max_frames: int = Field(default=129, ge=1, le=129)

    @model_validator(mode="after")
    def _someone_signs_tokens(self) -> Self:
        if not self.hs256_secrets() and not self.jwt_jwks_url:
            raise ValueError("set JWT_SECRET or JWT_JWKS_URL: no token could be verified")
        return self

    def hs256_secrets(self) -> list[str]:
        """Every secret that verifies HS256 tokens, the current first."""
        given = [self.jwt_secret, self.jwt_secret_previous]
        return [
            secret.strip()
            for value in given
            if value is not None
            for secret in value.get_secret_value().split(",")
            if secret.strip()
        ]
