from __future__ import annotations

from atelier.runtime.settings import RuntimeSettings


class LibrarySettings(RuntimeSettings):
    db_schema: str = "library"
    thumbnail_url_seconds: int = 24 * 3600
    file_url_seconds: int = 72 * 3600
