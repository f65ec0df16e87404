"""`python -m atelier.platform up`: the whole platform in the foreground; Ctrl-C stops it.

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

from atelier.platform.local import DEMO_USER, Platform
from atelier.platform.provision import provision
from atelier.runtime.settings import RuntimeSettings
from atelier.stack.supervisor import log as supervisor_log


def up(data_dir: Path) -> None:
    print(f"Starting Atelier in {data_dir.resolve()} …", flush=True)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    supervisor_log.addHandler(console)
    with Platform(data_dir) as platform:
        trust = platform.token_trust
        if trust.signing_secret is None:
            token = "<a token of your identity provider>"
            demo = "  demo token  none: your identity provider signs users' tokens\n"
        else:
            token = platform.token()
            demo = (
                f"  demo user   {DEMO_USER}\n  demo token  {token}\n"
                f"  signed in   {platform.gateway_url}/#token={token}\n"
            )
        print(
            f"""
Atelier is up.
  gateway     {platform.gateway_url}   (OpenAPI: {platform.gateway_url}/docs)
  console     {platform.gateway_url}/   (sign in with a token)
  tokens      {trust.description}
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
    up_parser.add_argument("--data-dir", type=Path, default=Path(".data"))
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
        up(args.data_dir)
    else:
        asyncio.run(provision(RuntimeSettings(), stream_replicas=args.stream_replicas))
        print(f"provisioned (stream replicas: {args.stream_replicas})", flush=True)


if __name__ == "__main__":
    main()
