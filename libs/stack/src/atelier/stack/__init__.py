"""atelier.stack: starts NATS, PostgreSQL and S3 (embedded, external or in containers) and the
services; used by `make up` and by the tests. The servers live in `atelier.stack.servers`."""
