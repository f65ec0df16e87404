"""The whole platform on one machine: servers, provisioning, models and services.

`make up` runs it in the foreground; the integration and e2e tests start the very same
thing once per session. Everything lives in one data directory, so a second start finds
yesterday's workspace (same ports when free, same JWT secret, same model files). While it
runs, a service that exits unasked is started again (atelier.stack.supervisor).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from atelier.contracts import permissions
from atelier.platform.identity import TokenTrust
from atelier.platform.provision import provision
from atelier.runtime.settings import RuntimeSettings
from atelier.stack.servers import Endpoints, start_stack_servers
from atelier.stack.servers.ports import HOST, PortStore
from atelier.stack.services import ServiceProcess
from atelier.stack.supervisor import Supervisor

#: The demo user of the dev stack; a fixed id, so its workspace survives restarts.
DEMO_USER = uuid.UUID("00000000-0000-4000-8000-00000000de00")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    #: The variable that tells the service its port: its API's or its health server's.
    port_env: str
    #: Who it is on NATS (see atelier.contracts.permissions).
    identity: str


GATEWAY = ServiceSpec("gateway", "atelier.gateway", "HTTP_PORT", permissions.GATEWAY)
SERVICES = (
    ServiceSpec("workspace", "atelier.workspace", "HEALTH_PORT", permissions.WORKSPACE),
    ServiceSpec("library", "atelier.library", "HEALTH_PORT", permissions.LIBRARY),
    ServiceSpec("scheduler", "atelier.scheduler", "HEALTH_PORT", permissions.SCHEDULER),
    ServiceSpec("webhooks", "atelier.webhooks", "HEALTH_PORT", permissions.WEBHOOKS),
    ServiceSpec("gpu-sdxl", "atelier.gpu_sdxl", "HEALTH_PORT", permissions.GPU),
    ServiceSpec("gpu-wan", "atelier.gpu_wan", "HEALTH_PORT", permissions.GPU),
    GATEWAY,
)
#: The name of the port every gateway process shares in the data directory's port store.
GATEWAY_ADDRESS = "gateway-address"

#: Sizes the gateway uses by default with the tiny offline models (fast on a CPU).
TINY_MODEL_DEFAULTS = {
    "SDXL_DEFAULT_SIZE": "128",
    "WAN_DEFAULT_WIDTH": "64",
    "WAN_DEFAULT_HEIGHT": "64",
    "WAN_DEFAULT_FRAMES": "9",
}
#: The models the GPU services load, and the command that builds each one's tiny,
#: randomly initialised stand-in of the real architecture when none is configured.
TINY_MODELS = {
    "SDXL_MODEL": ("tiny-sdxl", ["atelier.gpu_sdxl.tiny_model"]),
    "WAN_MODEL": ("tiny-wan", ["atelier.gpu_wan.tiny_model"]),
    "WAN_I2V_MODEL": ("tiny-wan-i2v", ["atelier.gpu_wan.tiny_model", "--kind", "i2v"]),
}


class Platform:
    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] = os.environ,
        *,
        endpoints: Endpoints | None = None,
        service_env: Mapping[str, str] | None = None,
        nats_nodes: int = 1,
        replicas: int = 1,
    ) -> None:
        """With `endpoints`, use servers someone else runs; else start them per `env`
        (NATS as a JetStream cluster of `nats_nodes` nodes when more than one).
        `service_env` adds settings for every service (e.g. a faster expiry sweep).
        `replicas`: processes of each service (`gateway`, `gateway-2`, …), as Kubernetes
        runs several behind its autoscalers."""
        self.data_dir = Path(data_dir).resolve()
        self.env = dict(env)
        self.endpoints = endpoints
        self.service_env = dict(service_env or {})
        self.nats_nodes = nats_nodes
        self.replicas = replicas
        self.services: dict[str, ServiceProcess] = {}
        #: The port the gateway processes share (see `gateway_url`).
        self.gateway_port = 0
        #: The spec each of `services` runs (a replica's name is its spec's, numbered).
        self.specs: dict[str, ServiceSpec] = {}
        #: What every service process gets in its environment, as the NATS admin (tools);
        #: `env_of` gives one service's own, with its NATS identity.
        self.service_environment: dict[str, str] = {}
        self._stop_servers = lambda: None
        self._supervisor = Supervisor(())

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Platform:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.endpoints is None:
            self.endpoints, self._stop_servers = start_stack_servers(
                self.data_dir, self.env, nats_nodes=self.nats_nodes
            )
        try:
            asyncio.run(provision(self.settings(), stream_replicas=self.endpoints.stream_replicas))
            service_env = self.service_environment = self._service_env()
            self._write_env_file(service_env)
            self.specs = {
                spec.name if n == 1 else f"{spec.name}-{n}": spec
                for spec in SERVICES
                for n in range(1, self.replicas + 1)
            }
            self.gateway_port = PortStore(self.data_dir / "service-ports.json").claim(
                [GATEWAY_ADDRESS]
            )[GATEWAY_ADDRESS]
            self.services = {name: self._process(name, spec) for name, spec in self.specs.items()}
            # The first process of each service first (it creates the service's tables),
            # then the other replicas, together.
            first = [s for name, s in self.services.items() if name == self.specs[name].name]
            others = [s for s in self.services.values() if s not in first]
            for batch in (first, others):
                with ThreadPoolExecutor(max(1, len(batch))) as pool:
                    for started in [pool.submit(s.start) for s in batch]:
                        started.result()
            self._supervisor = Supervisor(self.services.values()).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._supervisor.stop()
        for service in reversed(list(self.services.values())):
            service.stop()
        self._stop_servers()

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what users and tests need ---------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        """The address every gateway process shares (as a Kubernetes Service's)."""
        return f"http://{HOST}:{self.gateway_port}"

    @property
    def gateway_urls(self) -> list[str]:
        """Each gateway replica's own URL, to reach one process in particular."""
        return [self.services[n].url for n, spec in self.specs.items() if spec.name == "gateway"]

    def gateway_process(self, name: str) -> ServiceProcess:
        """One more gateway process on the shared address (not started, not supervised:
        the caller starts and stops it)."""
        return self._process(name, GATEWAY)

    @property
    def token_trust(self) -> TokenTrust:
        """Whose tokens the gateway trusts: the operator's settings, else a dev secret."""
        return TokenTrust.of(self.env, self._secrets()["jwt_secret"])

    def token(
        self,
        user_id: uuid.UUID = DEMO_USER,
        lifetime_s: int = 7 * 24 * 3600,
        claims: Mapping[str, object] | None = None,
    ) -> str:
        """A token for `user_id` (with `claims` besides: a tier, roles), when the platform
        holds a secret that signs them."""
        return self.token_trust.token(user_id, lifetime_s, claims)

    def admin_token(self, user_id: uuid.UUID = DEMO_USER) -> str:
        """A token whose role claim names the gateway's administrator role (the operator's
        JWT_ROLE_CLAIM and JWT_ADMIN_ROLE when set)."""
        claim = self.env.get("JWT_ROLE_CLAIM", "roles")
        return self.token(
            user_id, claims={claim: [self.env.get("JWT_ADMIN_ROLE", "atelier-admin")]}
        )

    def settings(self) -> RuntimeSettings:
        """Runtime settings pointing at this platform's servers (for tests and tools)."""
        assert self.endpoints is not None, "start() first"
        return RuntimeSettings(**{k.lower(): v for k, v in self.endpoints.as_env().items()})

    def env_of(self, spec: ServiceSpec) -> dict[str, str]:
        """The environment of one service (for starting more of them): its NATS identity."""
        assert self.endpoints is not None, "start() first"
        return {**self.service_environment, "NATS_URL": self.endpoints.nats_url_for(spec.identity)}

    # -- plumbing -------------------------------------------------------------------------

    def _process(self, name: str, spec: ServiceSpec) -> ServiceProcess:
        env = self.env_of(spec)
        if spec is not GATEWAY:
            return ServiceProcess(name, spec.module, self.data_dir, env, spec.port_env)
        # The kernel spreads connections over the processes on the shared port (one process
        # killed, the others go on); each also answers on its own port, for its probes.
        shared = {"HTTP_PORT": str(self.gateway_port), "HTTP_REUSE_PORT": "true"}
        return ServiceProcess(name, spec.module, self.data_dir, env | shared, "HTTP_PROCESS_PORT")

    def _service_env(self) -> dict[str, str]:
        assert self.endpoints is not None
        env = {
            **self.endpoints.as_env(),
            **self.token_trust.env,
            "LOG_LEVEL": self.env.get("LOG_LEVEL", "INFO"),
            # The GPU services load from disk only, and log as JSON, not progress bars.
            "HF_HUB_OFFLINE": "1",
            "TQDM_DISABLE": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "DIFFUSERS_VERBOSITY": "error",
            **self.webhook_env,
            **self.service_env,
        }
        for variable, (name, command) in TINY_MODELS.items():
            env[variable] = self.env.get(variable) or str(self._tiny_model(name, command))
        if not any(self.env.get(variable) for variable in TINY_MODELS):
            env |= TINY_MODEL_DEFAULTS
        return env

    def _write_env_file(self, env: Mapping[str, str]) -> None:
        """`stack.env`: how tools (`atelier rebuild …`) reach this platform's servers."""
        path = self.data_dir / "stack.env"
        path.write_text("".join(f"{key}={value}\n" for key, value in sorted(env.items())))
        path.chmod(0o600)

    def _tiny_model(self, name: str, command: list[str]) -> Path:
        """Build a tiny random pipeline of the real architecture once (no hub here)."""
        target = self.data_dir / "models" / name
        if not (target / "model_index.json").exists():
            module, *options = command
            subprocess.run(
                [sys.executable, "-m", module, str(target), *options],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        return target

    @property
    def webhook_env(self) -> dict[str, str]:
        """The webhooks service's key for the signing secrets (the operator's
        WEBHOOK_SECRET_KEYS, else one made once and kept with the other secrets), and
        private targets allowed unless the operator says otherwise: the receivers of a
        stack on one machine are on that machine."""
        return {
            "WEBHOOK_SECRET_KEYS": self.env.get("WEBHOOK_SECRET_KEYS")
            or self._secrets()["webhook_secret_keys"],
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": self.env.get("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        }

    def _secrets(self) -> dict[str, str]:
        path = self.data_dir / "secrets.json"
        kept = json.loads(path.read_text()) if path.exists() else {}
        made = {
            "jwt_secret": lambda: secrets.token_urlsafe(48),
            # a Fernet key: 32 random bytes, url-safe base64
            "webhook_secret_keys": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
        }
        missing = {name: make() for name, make in made.items() if name not in kept}
        if missing:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(kept | missing))
            path.chmod(0o600)
        return kept | missing
