"""A TCP proxy on loopback that can break every connection through it, for the tests that
must see what a client does when its connection drops mid-stream (a reconnect loses what
was in flight) while the server itself stays up.

It runs its own event loop in a thread, so a synchronous fixture and an async test can
both use it; `cut()` resets every open connection at once, and new ones are accepted as
before (clients reconnect to the same address).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit

HOST = "127.0.0.1"


class CuttingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        #: How many connections `cut()` has broken so far.
        self.cut_connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @classmethod
    def in_front_of(cls, url: str) -> CuttingProxy:
        parts = urlsplit(url)
        return cls(parts.hostname or HOST, parts.port or 4222)

    def url(self, url: str) -> str:
        """`url` (same scheme and credentials) pointed at the proxy instead."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@{HOST}:{self.port}" if credentials else f"{HOST}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> CuttingProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> int:
        """Reset every connection through the proxy now; how many there were."""
        return self._call(self._cut())

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        await self._cut()
        if self._server is not None:
            self._server.close()

    async def _cut(self) -> int:
        broken = list(self._open)
        for writer in broken:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # RST, not FIN: the peer sees a broken connection
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._open.clear()
        self.cut_connections += len(broken)
        return len(broken)

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter):
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
        except OSError:
            client_out.transport.abort()
            return
        self._open |= {client_out, server_out}
        await asyncio.gather(
            _pump(client_in, server_out), _pump(server_in, client_out), return_exceptions=True
        )
        for writer in (client_out, server_out):
            self._open.discard(writer)
            writer.transport.abort()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while data := await source.read(65536):
        sink.write(data)
        await sink.drain()
    sink.transport.abort()
