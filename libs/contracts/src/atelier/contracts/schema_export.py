"""Export the JSON Schema of every event type into ``libs/contracts/schemas/``.

Subscribers outside this repository code against these files; a test fails when a
model changes and the files were not regenerated (``python -m atelier.contracts.schema_export``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from atelier.contracts.registry import EVENT_TYPES

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"


def event_schemas() -> dict[str, str]:
    """File name → schema text, for every event type and its version."""
    files = {}
    for event_type in EVENT_TYPES:
        name = event_type.model_fields["type"].default
        schema = event_type.model_json_schema(mode="serialization")
        schema["$id"] = f"https://atelier.dev/schemas/{name}.v{event_type.SCHEMA_VERSION}.json"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        files[f"{name}.v{event_type.SCHEMA_VERSION}.json"] = (
            json.dumps(schema, indent=2, sort_keys=True) + "\n"
        )
    return files


def main(target: Path = SCHEMA_DIR) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for stale in set(p.name for p in target.glob("*.json")) - set(event_schemas()):
        (target / stale).unlink()
    for name, text in event_schemas().items():
        (target / name).write_text(text)
    print(f"wrote {len(event_schemas())} schemas to {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
