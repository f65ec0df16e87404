"""The webhooks service: users' webhooks, and the signed delivery of their events."""
