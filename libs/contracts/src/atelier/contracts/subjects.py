"""Every NATS subject string of the platform is built here and nowhere else.

Domain events live under ``atelier.user.{user_id}.…`` so that the user id sits at a
fixed position (token 3): one filter selects a user's whole history (SSE, replay), and
one per aggregate gives optimistic concurrency.

    atelier.user.{user}.generation.{model}.{job}.{event}     requested, started, completed, …
    atelier.user.{user}.workspace.{asset}.{event}             saved, discarded, removed, …
    atelier.user.{user}.library.{asset}.{event}               stored, updated, deleted, …
    atelier.user.{user}.collection.{collection}.{event}       created, updated, deleted

Ephemeral traffic is outside the stream: step progress and workers' capacity on core
NATS, request/reply commands and queries under ``atelier.rpc``, rejected messages under
``atelier.dlq``.
"""

from __future__ import annotations

import re
import uuid

EVENTS_ROOT = "atelier.user"
DEAD_LETTER_ROOT = "atelier.dlq"
PROGRESS_ROOT = "atelier.progress"
RPC_ROOT = "atelier.rpc"
LIMITS_ROOT = "atelier.limits"
PROJECTED_ROOT = "atelier.projected"
CAPACITY_ROOT = "atelier.capacity"

_TOKEN = re.compile(r"^[a-z0-9_-]{1,64}$")


def _token(value: object) -> str:
    """A subject token; refuses anything that could change the subject's shape."""
    text = str(value)
    if not _TOKEN.fullmatch(text):
        raise ValueError(f"not a valid subject token: {text!r}")
    return text


def user_events(user_id: uuid.UUID) -> str:
    """Every event of one user."""
    return f"{EVENTS_ROOT}.{_token(user_id)}.>"


def every_users_events() -> str:
    """Every event of every user (a gateway's one live feed for all its event streams)."""
    return f"{EVENTS_ROOT}.>"


def generation(user_id: uuid.UUID, model: str, job_id: uuid.UUID, event: str) -> str:
    user, model, job, event = _token(user_id), _token(model), _token(job_id), _token(event)
    return f"{EVENTS_ROOT}.{user}.generation.{model}.{job}.{event}"


def generation_history(user_id: uuid.UUID, job_id: uuid.UUID, event: str = "*") -> str:
    """Every event of one job (or one kind), whatever its model (the caller may not know it)."""
    event_token = event if event == "*" else _token(event)
    return f"{EVENTS_ROOT}.{_token(user_id)}.generation.*.{_token(job_id)}.{event_token}"


def generation_events(event: str = "*", model: str = "*") -> str:
    """One kind of generation event (or all) of every user, optionally for one model."""
    model_token = model if model == "*" else _token(model)
    event_token = event if event == "*" else _token(event)
    return f"{EVENTS_ROOT}.*.generation.{model_token}.*.{event_token}"


def aggregate(user_id: uuid.UUID, kind: str, aggregate_id: uuid.UUID, event: str) -> str:
    """A workspace, library or collection event: ``atelier.user.{user}.{kind}.{id}.{event}``."""
    return f"{EVENTS_ROOT}.{_token(user_id)}.{_token(kind)}.{_token(aggregate_id)}.{_token(event)}"


def aggregate_history(user_id: uuid.UUID, kind: str, aggregate_id: uuid.UUID) -> str:
    """Every event of one workspace asset, library asset or collection."""
    return f"{EVENTS_ROOT}.{_token(user_id)}.{_token(kind)}.{_token(aggregate_id)}.*"


def events_of(kind: str, event: str = "*") -> str:
    """One kind of event (or all) of every aggregate of a kind, of every user."""
    event_token = event if event == "*" else _token(event)
    return f"{EVENTS_ROOT}.*.{_token(kind)}.*.{event_token}"


def user_token_of(subject: str) -> str | None:
    """The user id token of an event subject, or None if the subject is not an event's."""
    parts = subject.split(".")
    if len(parts) < 4 or ".".join(parts[:2]) != EVENTS_ROOT:
        return None
    return parts[2]


def progress(user_id: uuid.UUID, job_id: uuid.UUID) -> str:
    return f"{PROGRESS_ROOT}.{_token(user_id)}.{_token(job_id)}"


def user_progress(user_id: uuid.UUID) -> str:
    return f"{PROGRESS_ROOT}.{_token(user_id)}.*"


def dead_letter(consumer: str) -> str:
    return f"{DEAD_LETTER_ROOT}.{_token(consumer)}"


def projected(projection: str) -> str:
    """Where a projection announces how far it has applied the log."""
    return f"{PROJECTED_ROOT}.{_token(projection)}"


def worker_capacity(model: str = "*") -> str:
    """Where a model's workers announce how many jobs they hold at once (core NATS)."""
    return f"{CAPACITY_ROOT}.{model if model == '*' else _token(model)}"


def rpc(service: str, name: str) -> str:
    return f"{RPC_ROOT}.{_token(service)}.{_token(name)}"


def matches(subject_filter: str, subject: str) -> bool:
    """Whether `subject` is selected by `subject_filter` (NATS `*` and `>` wildcards)."""
    wanted, tokens = subject_filter.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


def submits_in_minute(user_id: uuid.UUID, minute: int) -> str:
    """The counter of a user's submits in one minute (minutes since the epoch)."""
    return f"{LIMITS_ROOT}.rate.{_token(user_id)}.{int(minute)}"


def anonymous_requests_in_minute(client: str, minute: int) -> str:
    """The counter of one anonymous client's requests in one minute (`client`: a hash of
    its address, never the address itself)."""
    return f"{LIMITS_ROOT}.rate.anonymous.{_token(client)}.{int(minute)}"


def jobs_in_day(user_id: uuid.UUID, day: int) -> str:
    """The counter of a user's admitted jobs in one UTC day (days since the epoch)."""
    return f"{LIMITS_ROOT}.daily.{_token(user_id)}.{int(day)}"
