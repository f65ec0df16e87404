"""Free loopback ports, remembered in the data directory so a restart gets the same ones.

`PortStore(DATA/ports.json).claim(["nats"])` returns the port saved under "nats" when it is
still free, and otherwise a new free port, which it saves. Ports handed out in this process
are remembered too, so two stacks starting side by side never get the same port.

New ports are drawn below the kernel's ephemeral range (ip_local_port_range), where no
outgoing connection can take one between our check and the server's bind().
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

HOST = "127.0.0.1"
MAX_PORT = 65535
#: new ports are drawn from [PORT_FLOOR, start of the ephemeral range)
PORT_FLOOR = 15000

_lock = threading.Lock()
#: port -> the ports.json that holds it, for every port handed out by this process
_claimed: dict[int, Path] = {}


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on host:port now.

    SO_REUSEADDR, as the servers themselves use it, so that connections of a stopped server
    lingering in TIME_WAIT do not count as "taken"; a listening socket still does.
    """
    if not 0 < port <= MAX_PORT:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _random_port(offset: int | None) -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = low - (offset or 0)
    if top - PORT_FLOOR >= 1000:
        return random.randrange(PORT_FLOOR, top)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # let the kernel choose
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class PortStore:
    """The ports of one data directory, persisted as a JSON object {name: port}."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}

    def claim(
        self, names: Iterable[str], *, paired: Mapping[str, int] | None = None
    ) -> dict[str, int]:
        """A free port for each name, the saved one when it is still free.

        `paired` maps a name to an offset: that port + offset must be free as well (for
        servers that derive a second port from the first one).
        """
        paired = paired or {}
        with _lock:
            saved = self.load()
            chosen: dict[str, int] = {}
            for name in names:
                offset = paired.get(name)
                port = saved.get(name)
                if port is None or not self._usable(port, offset, chosen.values()):
                    port = self._new_port(offset, chosen.values())
                chosen[name] = port
            for name, port in chosen.items():
                _claimed[port] = self.path
                if name in paired:
                    _claimed[port + paired[name]] = self.path
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**saved, **chosen}, indent=2, sort_keys=True) + "\n")
            tmp.replace(self.path)
            return chosen

    def _usable(self, port: int, offset: int | None, taken: Iterable[int]) -> bool:
        candidates = [port] if offset is None else [port, port + offset]
        taken = set(taken)
        return all(
            p not in taken and _claimed.get(p, self.path) == self.path and port_is_free(p)
            for p in candidates
        )

    def _new_port(self, offset: int | None, taken: Iterable[int]) -> int:
        taken = set(taken)
        for _ in range(500):
            port = _random_port(offset)
            candidates = [port] if offset is None else [port, port + offset]
            if all(p not in taken and p not in _claimed and port_is_free(p) for p in candidates):
                return port
        raise RuntimeError(f"no free port pair on {HOST} (offset {offset})")
