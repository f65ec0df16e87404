"""`python -m atelier.workspace`: run the workspace service until SIGTERM."""

from atelier.runtime.lifecycle import run_until_signalled
from atelier.runtime.logs import configure_logging
from atelier.workspace.bootstrap import run
from atelier.workspace.config import WorkspaceSettings


def main() -> None:
    settings = WorkspaceSettings()
    configure_logging("workspace", settings.log_level)
    run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
