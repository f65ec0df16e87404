"""`python -m atelier.webhooks`: run the webhooks service until SIGTERM."""

from atelier.runtime.lifecycle import run_service
from atelier.webhooks.bootstrap import run
from atelier.webhooks.config import WebhooksSettings

if __name__ == "__main__":
    settings = WebhooksSettings()
    run_service("webhooks", settings, lambda stop: run(settings, stop))
