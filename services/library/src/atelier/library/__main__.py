"""`python -m atelier.library`: run the library service until SIGTERM."""

from atelier.library.bootstrap import run
from atelier.library.config import LibrarySettings
from atelier.runtime.lifecycle import run_service

if __name__ == "__main__":
    settings = LibrarySettings()
    run_service("library", settings, lambda stop: run(settings, stop))
