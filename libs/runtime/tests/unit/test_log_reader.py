"""The reader's own parse of a JetStream reply subject agrees with nats-py's."""

import pytest
from nats.aio.msg import Msg

from atelier.runtime.log_reader import LogMessage

REPLIES = [
    "$JS.ACK.ATELIER_EVENTS.c1.1.1234.17.1764441600000000000.9",  # v1
    "$JS.ACK._.ACCHASH.ATELIER_EVENTS.c1.1.1234.17.1764441600000000000.9.rnd",  # v2
    "$JS.ACK.hub.ACCHASH.ATELIER_EVENTS.c1.2.88.3.1764441600000000000.0",  # v2, a domain
]


@pytest.mark.parametrize("reply", REPLIES)
def test_sequences_read_from_the_reply_are_those_nats_py_reads(reply):
    msg = Msg(None, subject="atelier.user.u.x.y.z", reply=reply, data=b"{}")
    ours = LogMessage.of(msg)
    theirs = msg.metadata
    assert (ours.sequence, ours.delivery, ours.pending) == (
        theirs.sequence.stream,
        theirs.sequence.consumer,
        theirs.num_pending,
    )
