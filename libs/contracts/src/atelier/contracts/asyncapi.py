"""An AsyncAPI 3.0 document of every subject and message, generated from the models.

Checked in as `libs/contracts/asyncapi.json` (a test fails when it drifts); regenerate
with `python -m atelier.contracts.asyncapi`. The AsyncAPI project's own parser reads it
without an error (`tests/contracts`): every schema lives once under `components/schemas`
and is referenced from there, so code generators and documentation tools take it as is.
Each message says its subject, its headers and shows an example event of
`atelier.contracts.examples`.
"""

from __future__ import annotations

import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from atelier.contracts import examples, subjects
from atelier.contracts.envelope import AggregateEvent, Envelope
from atelier.contracts.generation import Model
from atelier.contracts.progress import StepProgress
from atelier.contracts.registry import EVENT_TYPES
from atelier.contracts.streams import DEAD_LETTERS, EVENTS

DOCUMENT = Path(__file__).resolve().parents[3] / "asyncapi.json"
SCHEMAS = "#/components/schemas/"
HEADERS = "EventHeaders"

#: Where, in a message, each parameter of a channel address is found.
_AGGREGATE_ID_FIELD = {
    "workspace": "asset_id",
    "library": "library_asset_id",
    "collection": "collection_id",
    "webhook": "webhook_id",
    "webhook_delivery": "delivery_id",
}


def component_name(type_name: str) -> str:
    """The schema name of an event type: `workspace.asset_saved` → `WorkspaceAssetSaved`."""
    return "".join(word.capitalize() for word in re.split(r"[._]", type_name))


def address(event_type: type[Envelope]) -> str:
    """The channel address (NATS subject, with parameters) of an event type."""
    root = f"{subjects.EVENTS_ROOT}.{{userId}}"
    if issubclass(event_type, AggregateEvent):
        return f"{root}.{event_type.kind}.{{aggregateId}}.{event_type.name}"
    return f"{root}.generation.{{model}}.{{jobId}}.{event_type.name}"


def parameters(event_type: type[Envelope]) -> dict[str, dict[str, Any]]:
    """The address's parameters, each with where a message carries its value."""
    found = {
        "userId": {
            "description": "The user whose data the message concerns (a UUID): filter per "
            f"user with `{subjects.EVENTS_ROOT}.<userId>.>`",
            "location": "$message.payload#/user_id",
        }
    }
    if issubclass(event_type, AggregateEvent):
        field = _AGGREGATE_ID_FIELD[event_type.kind]
        found["aggregateId"] = {
            "description": f"The {event_type.kind} aggregate (a UUID): `data.{field}`",
            "location": f"$message.payload#/data/{field}",
        }
    else:
        found["model"] = {
            "description": "The model the generation job runs on",
            "enum": list(typing.get_args(Model)),
            "location": "$message.payload#/data/model",
        }
        found["jobId"] = {
            "description": "The generation job (a UUID)",
            "location": "$message.payload#/data/job_id",
        }
    return found


def schemas() -> tuple[dict[type[BaseModel], str], dict[str, Any]]:
    """The component name of every published model, and every schema once, shared ones
    (the generation spec, an asset's snapshot, …) referenced rather than repeated."""
    models: list[type[BaseModel]] = [*EVENT_TYPES, StepProgress]
    refs, top = models_json_schema(
        [(model, "serialization") for model in models], ref_template=SCHEMAS + "{model}"
    )
    found = top["$defs"]
    renamed = {
        refs[(event_type, "serialization")]["$ref"].removeprefix(SCHEMAS): component_name(
            event_type.model_fields["type"].default
        )
        for event_type in EVENT_TYPES
    }
    for name in found:
        if "__" in name:  # pydantic's name for two models of one name: module__Class
            *_, module, model = name.split("__")
            renamed[name] = module.removesuffix("_events").capitalize() + model
    found = {renamed.get(name, name): schema for name, schema in found.items()}
    for name, schema in found.items():
        schema["title"] = name
    found = _renamed_refs(found, renamed)
    found[HEADERS] = _event_headers()
    names = {
        model: renamed.get(ref["$ref"].removeprefix(SCHEMAS)) for (model, _), ref in refs.items()
    }
    return {model: name or model.__name__ for model, name in names.items()}, dict(
        sorted(found.items())
    )


def _renamed_refs(value: Any, renamed: dict[str, str]) -> Any:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMAS):
            name = ref.removeprefix(SCHEMAS)
            value = value | {"$ref": SCHEMAS + renamed.get(name, name)}
        return {key: _renamed_refs(item, renamed) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed_refs(item, renamed) for item in value]
    return value


def _event_headers() -> dict[str, Any]:
    return {
        "title": HEADERS,
        "type": "object",
        "description": "NATS headers of every event on the log",
        "required": ["Nats-Msg-Id"],
        "properties": {
            "Nats-Msg-Id": {
                "type": "string",
                "description": "Deterministic per fact, so JetStream appends a repeat once: "
                "`{jobId}:requested`, `{jobId}:started:{attempt}`, `{jobId}:{event}` for the "
                "other generation events, `{aggregateId}:{event}:{causeOrEventId}` for "
                "workspace, library and collection events",
            },
            "traceparent": {
                "type": "string",
                "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C trace context of the span that published the event",
            },
            "tracestate": {"type": "string", "description": "W3C trace state, if any"},
        },
    }


def _example_headers(event: Envelope) -> dict[str, str]:
    """What the publisher sends: its message id, and its trace (one per request chain)."""
    return {
        "Nats-Msg-Id": event.dedup_id,
        "traceparent": f"00-{event.correlation_id.hex}-{event.event_id.hex[:16]}-01",
    }


def document() -> dict:
    names, components = schemas()
    example_of = {type(event): event for event in examples.every_event()}
    channels, operations, messages = {}, {}, {}
    for event_type in EVENT_TYPES:
        type_name = event_type.model_fields["type"].default
        key = type_name.replace(".", "_")
        subject = address(event_type)
        example = example_of[event_type]
        messages[key] = {
            "name": type_name,
            "title": type_name,
            "summary": (event_type.__doc__ or type_name).strip().split("\n")[0],
            "description": f"Published on the subject `{subject}` of the {EVENTS.name} "
            f"stream; every one of them: `{event_type.subject_filter()}`.",
            "contentType": "application/json",
            "headers": {"$ref": SCHEMAS + HEADERS},
            "payload": {"$ref": SCHEMAS + names[event_type]},
            "correlationId": {
                "description": "The request this event ultimately serves",
                "location": "$message.payload#/correlation_id",
            },
            "examples": [
                {
                    "name": f"example_{key}",
                    "summary": f"On {example.subject}",
                    "headers": _example_headers(example),
                    "payload": example.model_dump(mode="json"),
                }
            ],
        }
        channels[key] = {
            "address": subject,
            "title": type_name,
            "description": f"{EVENTS.name} stream",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "parameters": parameters(event_type),
        }
        operations[f"receive_{key}"] = {
            "action": "receive",
            "summary": f"Receive {type_name}",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        }
    progress = examples.progress()
    channels["generation_progress"] = {
        "address": f"{subjects.PROGRESS_ROOT}.{{userId}}.{{jobId}}",
        "title": "generation.progress",
        "description": "Core NATS, not the log: step progress and previews, ephemeral",
        "messages": {"progress": {"$ref": "#/components/messages/generation_progress"}},
        "parameters": {
            "userId": {"description": "The user whose job it is (a UUID)"},
            "jobId": {
                "description": "The generation job (a UUID)",
                "location": "$message.payload#/job_id",
            },
        },
    }
    messages["generation_progress"] = {
        "name": "generation.progress",
        "title": "generation.progress",
        "summary": "A step of a running job, with a small preview every few steps",
        "description": f"Published on the subject `{subjects.PROGRESS_ROOT}.{{userId}}.{{jobId}}` "
        "(core NATS: missed when not subscribed).",
        "contentType": "application/json",
        "payload": {"$ref": SCHEMAS + names[StepProgress]},
        "examples": [
            {
                "name": "example_generation_progress",
                "summary": f"On {subjects.progress(examples.EXAMPLE_USER, progress.job_id)}",
                "payload": progress.model_dump(mode="json"),
            }
        ],
    }
    operations["receive_generation_progress"] = {
        "action": "receive",
        "summary": "Receive generation.progress",
        "channel": {"$ref": "#/channels/generation_progress"},
        "messages": [{"$ref": "#/channels/generation_progress/messages/progress"}],
    }
    channels["dead_letters"] = {
        "address": f"{subjects.DEAD_LETTER_ROOT}.{{consumer}}",
        "title": "dead letters",
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
        "servers": {
            "nats": {
                "host": "{host}",
                "protocol": "nats",
                "description": "The platform's NATS JetStream server or cluster (NATS_URL)",
                "variables": {
                    "host": {
                        "default": "localhost:4222",
                        "description": "Host and port of a NATS server of the cluster",
                    }
                },
                "security": [{"$ref": "#/components/securitySchemes/natsUser"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": components,
            "messages": messages,
            "securitySchemes": {
                "natsUser": {
                    "type": "userPassword",
                    "description": "A NATS identity with its password; each may subscribe "
                    "to what `atelier.contracts.permissions` grants it",
                }
            },
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT}", file=sys.stderr)
