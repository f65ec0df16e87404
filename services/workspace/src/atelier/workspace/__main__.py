"""`python -m atelier.workspace`: run the workspace service until SIGTERM."""

from atelier.runtime.lifecycle import run_service
from atelier.workspace.bootstrap import run
from atelier.workspace.config import WorkspaceSettings

if __name__ == "__main__":
    settings = WorkspaceSettings()
    run_service("workspace", settings, lambda stop: run(settings, stop))
