from atelier.contracts.schema_export import SCHEMA_DIR, event_schemas


def test_checked_in_schemas_match_the_models():
    expected = event_schemas()
    on_disk = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.json")}
    assert on_disk.keys() == expected.keys(), "run: python -m atelier.contracts.schema_export"
    for name, text in expected.items():
        assert on_disk[name] == text, f"{name} drifted: python -m atelier.contracts.schema_export"
