"""Where a consumer puts a message it can never process: the dead-letter stream.

The original payload is kept byte for byte, with the reason and the original subject and
sequence in headers. The message id is deterministic, so a retried dead-lettering of the
same message is stored once.
"""

from __future__ import annotations

import logging

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from atelier.contracts import subjects
from atelier.contracts.streams import DEAD_LETTERS

log = logging.getLogger(__name__)

REASON = "Atelier-Dead-Letter-Reason"
ORIGINAL_SUBJECT = "Atelier-Original-Subject"
ORIGINAL_SEQUENCE = "Atelier-Original-Sequence"


async def dead_letter(js: JetStreamContext, consumer: str, msg: Msg, reason: str) -> None:
    sequence = msg.metadata.sequence.stream
    headers = {
        "Nats-Msg-Id": f"{consumer}:{sequence}",
        REASON: reason[:1000],
        ORIGINAL_SUBJECT: msg.subject,
        ORIGINAL_SEQUENCE: str(sequence),
    }
    await js.publish(
        subjects.dead_letter(consumer), msg.data, headers=headers, stream=DEAD_LETTERS.name
    )
    log.warning(
        "dead-lettered",
        extra={"consumer": consumer, "subject": msg.subject, "seq": sequence, "reason": reason},
    )
