"""How an anonymous client is counted: by a pseudonym of its address, one per IPv4
address and one per IPv6 /64, never the address itself in a subject."""

import pytest

from atelier.contracts import subjects
from atelier.runtime.limits import client_key


def test_the_subject_holds_a_hash_not_the_address():
    key = client_key("203.0.113.7")
    subject = subjects.anonymous_requests_in_minute(key, 29_000_000)
    assert "203.0.113.7" not in subject
    assert subject == f"atelier.limits.rate.anonymous.{key}.29000000"
    assert key == client_key("203.0.113.7")  # every replica computes the same
    assert key != client_key("203.0.113.8")


def test_an_ipv6_host_counts_by_its_64_and_a_mapped_ipv4_as_itself():
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:203.0.113.7") == client_key("203.0.113.7")


@pytest.mark.parametrize("address", ["unknown", "testclient", "", "a.b.c.d"])
def test_what_is_no_address_still_counts_as_one_client(address):
    assert client_key(address) == client_key(address)
    subjects.anonymous_requests_in_minute(client_key(address), 1)  # a valid subject
