"""Where a consumer puts a message it can never process: the dead-letter stream.

The original payload is kept byte for byte, with the reason, why it was refused and the
original subject and sequence in headers. The message id is deterministic, so a retried
dead-lettering of the same message is stored once (within the duplicate window).

Why a message is dead-lettered:
- `undecodable`: it is not a valid event of a known type and version;
- `unappliable`: it decodes, but a projection cannot write it (the data is refused);
- `rejected`: a handler says it can never be processed;
- `gave_up`: it failed too many times in a row.
"""

from __future__ import annotations

import logging
from typing import Literal

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from atelier.contracts import subjects
from atelier.contracts.streams import DEAD_LETTERS
from atelier.runtime.log_reader import LogMessage
from atelier.runtime.metrics import DEAD_LETTERS_TOTAL

log = logging.getLogger(__name__)

REASON = "Atelier-Dead-Letter-Reason"
ORIGINAL_SUBJECT = "Atelier-Original-Subject"
ORIGINAL_SEQUENCE = "Atelier-Original-Sequence"
WHY = "Atelier-Dead-Letter-Why"

Why = Literal["undecodable", "unappliable", "rejected", "gave_up"]


async def dead_letter(
    js: JetStreamContext,
    consumer: str,
    msg: Msg | LogMessage,
    reason: str,
    why: Why = "rejected",
) -> None:
    sequence = msg.sequence if isinstance(msg, LogMessage) else msg.metadata.sequence.stream
    headers = {
        "Nats-Msg-Id": f"{consumer}:{sequence}",
        REASON: reason[:1000],
        WHY: why,
        ORIGINAL_SUBJECT: msg.subject,
        ORIGINAL_SEQUENCE: str(sequence),
    }
    await js.publish(
        subjects.dead_letter(consumer), msg.data, headers=headers, stream=DEAD_LETTERS.name
    )
    DEAD_LETTERS_TOTAL.labels(consumer, why).inc()
    log.warning(
        "dead-lettered",
        extra={
            "consumer": consumer,
            "subject": msg.subject,
            "seq": sequence,
            "why": why,
            "reason": reason,
        },
    )
