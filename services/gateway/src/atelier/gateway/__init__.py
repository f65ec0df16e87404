"""The HTTP gateway: authenticates users, validates requests, publishes and relays."""
