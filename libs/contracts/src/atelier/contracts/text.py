"""What text may hold, wherever a contract carries a string.

PostgreSQL refuses NUL in `text` and `jsonb`, a lone surrogate cannot be encoded as UTF-8,
and the other control characters let a title, a key or a log line show other than what it
holds. So every string refuses the C0 controls (U+0000–U+001F), DEL, the C1 controls
(U+0080–U+009F) and lone surrogates; multi-line text (a prompt, a description) keeps tab
and newline.

Put `SINGLE_LINE` or `MULTI_LINE` last in an `Annotated` type, after its
`StringConstraints`, which then still measure the stripped text and keep their pattern in
the JSON Schema. The characters are checked on the text as it came, before any stripping or
pattern, so one at an edge is refused too and the error names it. `StorableJson` holds a
free-form value (`generation_settings`) to the multi-line rule, with finite numbers that
fit in 64 bits: every typed string has a rule of its own (a unit test checks that no
event field is a plain `str`), so only free-form values need walking.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

#: PostgreSQL's `integer` and `bigint`.
INTEGER_MAX = 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


class RefusedCharacters:
    """Pydantic metadata for a `str`: refuse the characters of one class (written as the
    inside of a regular expression's `[...]`), and show them in the JSON Schema's `pattern`
    when the type states none of its own."""

    def __init__(self, controls: str) -> None:
        # Lone surrogates stay out of the schema's pattern: without the `u` flag an
        # ECMAScript pattern would refuse every character outside the Basic Multilingual Plane.
        self._refused = re.compile(f"[{controls}\ud800-\udfff]")
        self._pattern = "^[^" + controls.encode("unicode_escape").decode() + "]*$"

    def allows(self, value: str) -> bool:
        return self._refused.search(value) is None

    def replaced(self, value: str, limit: int) -> str:
        """`value` with each refused character replaced by a space, cut to `limit`: for
        text the system writes itself from what it does not control (an error message)."""
        return self._refused.sub(" ", value)[:limit]

    def check(self, value: str) -> str:
        """`value`, or ValueError naming the first refused character in it."""
        if found := self._refused.search(value):
            code = ord(found.group())
            kind = "lone surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
            raise ValueError(f"{kind} U+{code:04X} is not allowed")
        return value

    def _validate(self, value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, str):
            return handler(self.check(value))
        return self.check(handler(value))  # e.g. bytes, which `str` accepts in lax mode

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self._pattern)
        return json_schema


#: A name, a key, a title: no control character at all.
SINGLE_LINE = RefusedCharacters("\x00-\x1f\x7f-\x9f")
#: A prompt, a description, a reason: tab and newline allowed (not carriage return).
MULTI_LINE = RefusedCharacters("\x00-\x08\x0b-\x1f\x7f-\x9f")

SingleLineText = Annotated[str, SINGLE_LINE]
MultiLineText = Annotated[str, MULTI_LINE]


def check_json_value(value: Any, where: str) -> None:
    """ValueError naming the place if `value` (dicts, lists, strings, numbers) holds what
    PostgreSQL's `text` and `jsonb` cannot store: a string, key or value, that multi-line
    text refuses, a NaN or infinite float, an integer beyond 64 bits."""
    if not _storable(value):
        _refuse_first(value, where)


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    check_json_value(value, "")
    return value


#: A free-form JSON object that PostgreSQL's `jsonb` can store (see `check_json_value`).
StorableJson = Annotated[dict[str, Any], AfterValidator(_storable_json)]


def _storable(value: Any) -> bool:
    """The check without the place, in one pass and one search: every consumer runs it on
    every event, a rebuild on the whole log."""
    strings, pending = [], [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            strings.extend(map(str, item))
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, int | float) and _number_problem(item):
            return False
    return MULTI_LINE.allows("".join(strings))


def _refuse_first(value: Any, where: str) -> None:
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, int | float) and (problem := _number_problem(value)):
        raise ValueError(f"{where}: {problem}" if where else problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(str(key), f"{where} (a key)" if where else "a key")  # not the key itself
            _refuse_first(item, _within(where, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_first(item, _within(where, index))


def _within(where: str, part: object) -> str:
    return f"{where}.{part}" if where else str(part)


def _number_problem(number: float) -> str | None:
    if isinstance(number, float):
        return None if math.isfinite(number) else f"{number} is not a finite number"
    return None if BIGINT_MIN <= number <= BIGINT_MAX else "the integer does not fit in 64 bits"


def _check_text(text: str, where: str) -> None:
    try:
        MULTI_LINE.check(text)
    except ValueError as error:
        raise ValueError(f"{where}: {error}" if where else str(error)) from None
