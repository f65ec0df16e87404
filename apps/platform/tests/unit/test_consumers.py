"""docs/architecture.md shows who consumes what as the code declares it."""

from atelier.contracts import subjects
from atelier.platform import consumers
from atelier.platform.provision import durable_consumers


def test_the_architecture_document_shows_the_declared_consumers():
    text = consumers.DOC.read_text()
    assert consumers.in_document(text) == text, "run: python -m atelier.platform.consumers"


def test_every_durable_consumer_reads_exactly_what_its_table_names():
    declared: dict[str, set[str]] = {}
    for consumer, _, event_type, _ in consumers.rows():
        declared.setdefault(consumer, set()).add(event_type.subject_filter())
    for config in durable_consumers():
        filters = config.filter_subjects or [config.filter_subject]
        wanted = declared[config.durable_name]
        assert all(any(subjects.matches(w, f.replace("*", "x")) for w in wanted) for f in filters)
        assert len(filters) == len(wanted), config.durable_name
