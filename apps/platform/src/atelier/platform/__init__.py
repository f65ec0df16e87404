"""atelier.platform: the whole Atelier platform, composed of its services — an application,
not a library (no `libs/` package imports it).

- `python -m atelier.platform up`: every service on embedded (or the environment's)
  servers, supervised, in the foreground (`make up`; `local.Platform`, also the tests');
- `python -m atelier.platform provision`: streams, durable consumers and buckets on the
  environment's servers (the Kubernetes provisioning Job; `provision`);
- `atelier rebuild workspace|library`: a projection rebuilt from the log (`cli`);
- the dev stack's identity: whose tokens the gateway trusts, and the demo tokens (`identity`).

Its image is `atelier/ops` (the `ops` target of deploy/docker/Dockerfile)."""
