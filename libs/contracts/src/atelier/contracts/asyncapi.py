"""An AsyncAPI 3.0 document of every subject and message, generated from the models.

Checked in as `libs/contracts/asyncapi.json` (a test fails when it drifts); regenerate
with `python -m atelier.contracts.asyncapi`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from atelier.contracts import subjects
from atelier.contracts.envelope import AggregateEvent
from atelier.contracts.progress import StepProgress
from atelier.contracts.registry import EVENT_TYPES
from atelier.contracts.streams import DEAD_LETTERS, EVENTS

DOCUMENT = Path(__file__).resolve().parents[3] / "asyncapi.json"

_PARAMETERS = {
    "userId": "The user whose data the message concerns (a UUID): filter per user on it",
    "model": "The model a generation job runs on",
    "jobId": "A generation job (a UUID)",
    "aggregateId": "The workspace asset, library asset or collection (a UUID)",
}


def _address(event_type) -> str:
    root = f"{subjects.EVENTS_ROOT}.{{userId}}"
    if issubclass(event_type, AggregateEvent):
        return f"{root}.{event_type.kind}.{{aggregateId}}.{event_type.name}"
    return f"{root}.generation.{{model}}.{{jobId}}.{event_type.name}"


def document() -> dict:
    channels, operations, messages = {}, {}, {}
    for event_type in EVENT_TYPES:
        type_name = event_type.model_fields["type"].default
        key = type_name.replace(".", "_")
        address = _address(event_type)
        messages[key] = {
            "name": type_name,
            "title": type_name,
            "summary": (event_type.__doc__ or "").strip().split("\n")[0],
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {"type": "string", "description": "Deterministic per fact"},
                    "traceparent": {"type": "string", "description": "W3C trace context"},
                },
            },
            "payload": event_type.model_json_schema(mode="serialization"),
        }
        channels[key] = {
            "address": address,
            "description": f"{EVENTS.name} stream",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "parameters": {
                name: {"description": _PARAMETERS[name]}
                for name in _PARAMETERS
                if f"{{{name}}}" in address
            },
        }
        operations[f"receive_{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        }
    channels["generation_progress"] = {
        "address": f"{subjects.PROGRESS_ROOT}.{{userId}}.{{jobId}}",
        "description": "Core NATS, not the log: step progress and previews, ephemeral",
        "messages": {"progress": {"$ref": "#/components/messages/generation_progress"}},
        "parameters": {name: {"description": _PARAMETERS[name]} for name in ("userId", "jobId")},
    }
    messages["generation_progress"] = {
        "name": "generation.progress",
        "contentType": "application/json",
        "payload": StepProgress.model_json_schema(),
    }
    operations["receive_generation_progress"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/generation_progress"},
    }
    channels["dead_letters"] = {
        "address": f"{subjects.DEAD_LETTER_ROOT}.{{consumer}}",
        "description": f"{DEAD_LETTERS.name} stream: messages a consumer refused, byte for "
        "byte, with the reason in the Atelier-Dead-Letter-Reason header",
        "parameters": {"consumer": {"description": "The consumer that refused it"}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Atelier events",
            "version": "1.0.0",
            "description": "Every event on Atelier's log. Subscribe per user with "
            f"`{subjects.EVENTS_ROOT}.<userId>.>`; the stream is {EVENTS.name}.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT}", file=sys.stderr)
