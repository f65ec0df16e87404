"""`python -m atelier.platform up`: the whole platform in the foreground; Ctrl-C stops it.
With `--nats-nodes 3`, NATS is a JetStream cluster of three nodes on loopback (streams and
durable consumers with 3 replicas; data in .data/cluster unless --data-dir says where);
with `--replicas 2`, two processes of every service.

`python -m atelier.platform provision [--stream-replicas N]`: create the streams, durable
consumers and buckets on the servers the environment names (NATS_URL, S3_*), and exit;
what the Kubernetes provisioning Job runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from atelier.platform.local import DEMO_USER, Platform
from atelier.platform.provision import provision
from atelier.runtime.bus import server_urls
from atelier.runtime.settings import RuntimeSettings
from atelier.stack.supervisor import log as supervisor_log

#: Where `up` keeps its data: a cluster's log is not a single server's (see
#: atelier.stack.servers.nats.refuse_other_shape), so it has a directory of its own.
DATA_DIR, CLUSTER_DATA_DIR = Path(".data"), Path(".data/cluster")


def _webhook_targets(platform: Platform) -> str:
    if platform.webhook_env["WEBHOOK_ALLOW_PRIVATE_TARGETS"].lower() in ("true", "1", "yes"):
        return (
            "WEBHOOK_ALLOW_PRIVATE_TARGETS=true: webhooks may point at loopback and private "
            "addresses (set it to false to refuse them)"
        )
    return "private, loopback and link-local targets are refused"


def up(data_dir: Path, *, nats_nodes: int = 1, replicas: int = 1) -> None:
    print(f"Starting Atelier in {data_dir.resolve()} …", flush=True)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    supervisor_log.addHandler(console)
    with Platform(data_dir, nats_nodes=nats_nodes, replicas=replicas) as platform:
        trust = platform.token_trust
        if trust.signing_secret is None:
            token = "<a token of your identity provider>"
            demo = "  demo token  none: your identity provider signs users' tokens\n"
        else:
            token = platform.token()
            demo = (
                f"  demo user   {DEMO_USER}\n  demo token  {token}\n"
                f"  signed in   {platform.gateway_url}/#token={token}\n"
                f"  admin token {platform.admin_token()}\n"
                "              (the demo user as an administrator: /v1/admin/…)\n"
            )
        assert platform.endpoints is not None
        nodes = [_address(url) for url in server_urls(platform.endpoints.nats_url)]
        nats = ", ".join(nodes) + (
            f"   ({len(nodes)} nodes; streams: {platform.endpoints.stream_replicas} replicas)"
            if len(nodes) > 1
            else ""
        )
        others = "".join(
            f"  {name:<11} {service.url}\n"
            for name, service in platform.services.items()
            if name != "gateway" and platform.specs[name].name == "gateway"
        )
        print(
            f"""
Atelier is up.
  gateway     {platform.gateway_url}   (OpenAPI: {platform.gateway_url}/docs)
{others}  nats        {nats}
  console     {platform.gateway_url}/   (sign in with a token)
  tokens      {trust.description}
  webhooks    {_webhook_targets(platform)}
{demo}
Try it:
  TOKEN={token}
  curl -s -X POST {platform.gateway_url}/v1/generations -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' \\
       -d '{{"model": "sdxl", "prompt": "a lighthouse at dusk", "num_images": 3}}'
  curl -s {platform.gateway_url}/v1/workspace/assets -H "Authorization: Bearer $TOKEN"

The services are supervised: restarted with backoff if they exit.
Logs: {data_dir.resolve() / "logs"}. Ctrl-C stops everything.""",
            flush=True,
        )
        stopping.wait()
        print("\nStopping …", flush=True)
    print("Stopped. Data kept in", data_dir.resolve(), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m atelier.platform")
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="run the whole platform until Ctrl-C")
    up_parser.add_argument(
        "--data-dir", type=Path, help=f"default {DATA_DIR}, or {CLUSTER_DATA_DIR} for a cluster"
    )
    up_parser.add_argument(
        "--nats-nodes",
        type=int,
        choices=(1, 3, 5),
        default=1,
        help="nats-server nodes: more than one is a JetStream cluster (streams: 3 replicas)",
    )
    up_parser.add_argument(
        "--replicas", type=int, default=1, help="processes of each service (default 1)"
    )
    provision_parser = commands.add_parser(
        "provision", help="create streams, consumers and buckets on external servers"
    )
    provision_parser.add_argument(
        "--stream-replicas",
        type=int,
        choices=(1, 3, 5),
        default=1,
        help="copies of each stream in the NATS cluster",
    )
    args = parser.parse_args(argv)
    if args.command == "up":
        if args.replicas < 1:
            parser.error("--replicas: at least 1")
        data_dir = args.data_dir or (DATA_DIR if args.nats_nodes == 1 else CLUSTER_DATA_DIR)
        up(data_dir, nats_nodes=args.nats_nodes, replicas=args.replicas)
    else:
        asyncio.run(provision(RuntimeSettings(), stream_replicas=args.stream_replicas))
        print(f"provisioned (stream replicas: {args.stream_replicas})", flush=True)


def _address(url: str) -> str:
    """A NATS server's URL without its credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


if __name__ == "__main__":
    main()
