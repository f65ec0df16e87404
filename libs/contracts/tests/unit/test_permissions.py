"""Every event type has exactly one service identity that may publish it (one exception,
named here): a new event fails here until it is given an owner (else its publisher would
be refused at run time)."""

import uuid

import pytest

from atelier.contracts import permissions, subjects
from atelier.contracts.envelope import AggregateEvent
from atelier.contracts.generation import GenerationCancelled
from atelier.contracts.registry import EVENT_TYPES

ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def example_subject(event_type) -> str:
    if issubclass(event_type, AggregateEvent):
        return subjects.aggregate(ID, event_type.kind, ID, event_type.name)
    return subjects.generation(ID, "sdxl", ID, event_type.name)


def publishers(subject: str) -> set[str]:
    return {
        identity
        for identity, granted in permissions.SERVICES.items()
        if any(subjects.matches(allowed, subject) for allowed in granted.publish)
    }


#: A job is cancelled by the worker that runs it, or by the scheduler while it waits.
SHARED = {GenerationCancelled: {permissions.GPU, permissions.SCHEDULER}}


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.model_fields["type"].default)
def test_each_event_has_one_owner(event_type):
    owners = publishers(example_subject(event_type))
    assert len(owners) == 1 or owners == SHARED.get(event_type)


def test_commands_come_from_the_gateway_only():
    for service in (permissions.WORKSPACE, permissions.LIBRARY, permissions.WEBHOOKS):
        assert publishers(subjects.rpc(service, "any_command")) == {permissions.GATEWAY}
