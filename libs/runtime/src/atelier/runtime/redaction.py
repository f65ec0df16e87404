"""Users' tokens out of traces and logs.

A token reaches the gateway as `Authorization: Bearer …`, or as `?access_token=…` on the
event stream (EventSource cannot send headers), so the request's URL, a captured header, an
exception's message or a log line can carry it. `redact` replaces the secret in any such
text with `REDACTED` and keeps the rest readable (the path, the other query parameters).
The span exporters and the JSON log formatter apply it; the gateway also applies it to its
server spans as they start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REDACTED = "REDACTED"

_SECRET = re.compile(
    # the query parameter's value, up to the next parameter (or the end of a quoted URL)
    r"(?P<parameter>access_token=)[^\s&#'\"\\]+"
    # an Authorization header's credentials: RFC 6750's token68, the scheme in any case (at
    # least 12 characters, so that prose such as "a bearer token is required" stays)
    r"|(?P<scheme>\b(?i:bearer)\s+)[\w.~+/-]{12,}=*"
    # a JWT anywhere: base64url of a JSON header (`{"` is `eyJ`), payload and signature
    r"|\beyJ[\w-]*\.[\w-]+\.[\w-]*"
)


def redact(text: str) -> str:
    """`text` with every token replaced."""
    return _SECRET.sub(_replace, text)


def redact_attributes(attributes: Mapping[str, object] | None) -> dict[str, object]:
    """Span (or event, link) attributes with every token replaced in their strings."""
    return {key: _redact_value(value) for key, value in (attributes or {}).items()}


def _replace(found: re.Match[str]) -> str:
    return (found["parameter"] or found["scheme"] or "") + REDACTED


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return tuple(redact(item) if isinstance(item, str) else item for item in value)
    return value
