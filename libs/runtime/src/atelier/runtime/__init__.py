"""Shared plumbing of every Atelier service: bus, consumers, projections, settings, S3, logs."""
