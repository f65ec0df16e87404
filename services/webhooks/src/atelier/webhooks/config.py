from __future__ import annotations

from pydantic import Field, SecretStr

from atelier.runtime.settings import RuntimeSettings


class WebhooksSettings(RuntimeSettings):
    db_schema: str = "webhooks"
    #: Fernet keys (comma-separated, the first encrypts; the others still decrypt during a
    #: rotation) for the signing secrets on the log. Required.
    webhook_secret_keys: SecretStr | None = None
    #: Let webhooks point at loopback, private and link-local addresses (the local stack).
    webhook_allow_private_targets: bool = False
    #: How long one attempt may take, connecting and answering included.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    #: Multiplies every delay of the retry schedule and its 24 h window (tests shorten it).
    webhook_retry_scale: float = Field(default=1.0, gt=0, le=1)
    #: Attempts in flight in this process, and for one webhook (a dead receiver with
    #: thousands of deliveries due takes no more than this many slots).
    webhook_max_in_flight: int = Field(default=64, ge=1, le=1024)
    webhook_max_in_flight_per_webhook: int = Field(default=4, ge=1, le=64)
    #: How often due deliveries are looked for.
    webhook_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    #: Lifetime of the signed URLs of a delivery's files.
    webhook_url_seconds: int = Field(default=24 * 3600, gt=0, le=7 * 24 * 3600)
