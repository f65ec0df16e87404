"""Which webhook targets are refused: every non-public address, however it is spelled."""

import ipaddress

import pytest

from atelier.webhooks import ssrf

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (carrier NAT)
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused(address):
    assert ssrf.refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert ssrf.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1/hook",
        "http://0x7f.1/hook",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://017700000001/hook",
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "https://[fc00::1]/hook",
        "http://localhost/hook",
        "http://LOCALHOST./hook",
        "http://api.localhost/hook",
        "http://0/hook",
    ],
)
async def test_urls_that_reach_this_machine_or_a_private_network_are_refused(url):
    with pytest.raises(ssrf.RefusedTarget):
        await ssrf.check_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///x"])
async def test_only_http_urls_with_a_host(url):
    with pytest.raises(ssrf.RefusedTarget):
        await ssrf.check_url(url)


async def test_a_public_literal_passes_without_resolving():
    await ssrf.check_url("https://8.8.8.8/hook")


def test_one_private_address_among_public_ones_refuses_the_name():
    with pytest.raises(ssrf.RefusedTarget):
        ssrf.check_addresses([ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.0.0.1")])
    with pytest.raises(ssrf.RefusedTarget):
        ssrf.check_addresses([])


async def test_the_resolver_refuses_what_a_name_resolves_to_at_connection_time():
    resolver = ssrf.GuardedResolver()
    try:
        with pytest.raises(OSError, match="refused"):
            await resolver.resolve("localhost", 80)
        with pytest.raises(OSError, match="refused"):
            await resolver.resolve("127.0.0.1", 80)
        found = await resolver.resolve("8.8.8.8", 443)
        assert found[0]["host"] == "8.8.8.8"
    finally:
        await resolver.close()
