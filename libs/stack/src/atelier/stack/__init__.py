"""atelier.stack: the generic machinery for running Atelier on one machine, which imports no
service: NATS, PostgreSQL and S3 servers (embedded, external or in containers;
`atelier.stack.servers`), service child processes with a readiness probe (`services`), their
supervisor (`supervisor`) and pytest fixtures over real servers (`pytest_plugin`). The
platform composed of the services is the application `atelier.platform` (apps/platform)."""
