"""Where a webhook may point: the public internet only, unless the operator allows
private targets (`WEBHOOK_ALLOW_PRIVATE_TARGETS=true`, which the local stack sets).

An address is refused unless it is global unicast: loopback, private (10/8, 172.16/12,
192.168/16, fc00::/7), link-local (169.254/16, where cloud metadata answers, fe80::/10),
shared (100.64/10), multicast, reserved and unspecified addresses are refused, and an
IPv6 address that embeds an IPv4 one (`::ffff:127.0.0.1`) is judged by that IPv4 address.
Hosts are resolved with the system resolver, which also reads the old spellings of IPv4
(`127.1`, `0x7f.1`, `2130706433`), so they are refused as what they resolve to.

It is checked twice: when a webhook is registered (422 naming `url`), and on every
delivery against the addresses the connection is made to (`GuardedResolver`), so a name
that resolved to a public address at registration and to 127.0.0.1 later (DNS
rebinding) reaches nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Names that mean this machine whatever a resolver says.
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class RefusedTarget(ValueError):
    """A webhook target that is not on the public internet (or does not resolve)."""


def refusal(address: IPAddress) -> str | None:
    """Why a connection to `address` is refused, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            why = refusal(embedded)
            return None if why is None else f"{why} (inside {address})"
    for test, what in _KINDS:
        if getattr(address, test):
            return f"{address} is {what} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_KINDS = (
    ("is_unspecified", "an unspecified"),
    ("is_loopback", "a loopback"),
    ("is_link_local", "a link-local"),
    ("is_private", "a private"),
    ("is_multicast", "a multicast"),
    ("is_reserved", "a reserved"),
)


def host_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("only http and https URLs with a host are allowed")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def name_refusal(host: str) -> str | None:
    name = host.rstrip(".").lower()
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return f"{host} names this machine"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (the system resolver, as connecting does)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise RefusedTarget(f"{host} does not resolve") from error
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


async def check_url(url: str) -> None:
    """Refuse (RefusedTarget) a URL whose host is or resolves to a non-public address."""
    host, port = host_of(url)
    why = name_refusal(host)
    if why is not None:
        raise RefusedTarget(why)
    check_addresses(await resolve(host, port))


def check_addresses(addresses: list[IPAddress]) -> None:
    """Every address must be public: a name with one private address among public ones
    could be made to connect there."""
    if not addresses:
        raise RefusedTarget("the host resolves to no address")
    for address in addresses:
        why = refusal(address)
        if why is not None:
            raise RefusedTarget(why)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to a non-public address: the
    addresses it returns are the only ones aiohttp connects to. (aiohttp does not ask a
    resolver about an IP literal: `check_url` before each request covers those.)"""

    def __init__(self) -> None:
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[dict[str, Any]]:
        why = name_refusal(host)
        if why is not None:
            raise OSError(f"refused: {why}")
        found = await self._resolver.resolve(host, port, family)
        try:
            check_addresses([ipaddress.ip_address(entry["host"]) for entry in found])
        except RefusedTarget as refused:
            raise OSError(f"refused: {refused}") from refused
        return found

    async def close(self) -> None:
        await self._resolver.close()
