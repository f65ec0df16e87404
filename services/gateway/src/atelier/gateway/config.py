from __future__ import annotations

from pydantic import Field, SecretStr

from atelier.runtime.settings import RuntimeSettings


class GatewaySettings(RuntimeSettings):
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    jwt_secret: SecretStr
    jwt_audience: str = "authenticated"
    #: Per user, over every gateway replica: jobs queued or running at once, and submits
    #: a minute (beyond either: 429 with Retry-After).
    max_active_jobs_per_user: int = Field(default=10, ge=1)
    submits_per_minute_per_user: int = Field(default=60, ge=1)
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
