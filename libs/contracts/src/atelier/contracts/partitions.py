"""Users' events fall into a fixed number of partitions, by user id: a projection's
replicas share the partitions (each applied by one replica at a time), and keep each
user's events in order, which is the only order any table needs.

A user's partition is FNV-1a (32 bits) of the user id's text, modulo `PARTITIONS`: the
very function of nats-server's `partition(n, …)` subject transform, so a stream could be
partitioned by the server the same way (a test checks that they agree).
"""

from __future__ import annotations

import functools
import uuid

from atelier.contracts import subjects

#: Changing it moves users between partitions: every projection must then be rebuilt.
PARTITIONS = 16

_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def partition_of(user_id: uuid.UUID | str) -> int:
    return _partition_of_text(str(user_id))


@functools.lru_cache(maxsize=65536)
def _partition_of_text(user: str) -> int:
    """(Cached: a reader asks it of every message it reads, a few users at a time.)"""
    digest = _FNV_OFFSET
    for byte in user.encode():
        digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return digest % PARTITIONS


def partition_of_subject(subject: str) -> int:
    """The partition of an event's subject (the user token's), without decoding it."""
    user = subjects.user_token_of(subject)
    if user is None:
        raise ValueError(f"not an event subject: {subject!r}")
    return _partition_of_text(user)
