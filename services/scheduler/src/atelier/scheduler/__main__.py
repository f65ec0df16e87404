"""`python -m atelier.scheduler`: run the scheduler until SIGTERM."""

from atelier.runtime.lifecycle import run_service
from atelier.scheduler.bootstrap import run
from atelier.scheduler.config import SchedulerSettings

if __name__ == "__main__":
    settings = SchedulerSettings()
    run_service("scheduler", settings, lambda stop: run(settings, stop))
