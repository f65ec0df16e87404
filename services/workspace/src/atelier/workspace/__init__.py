"""The workspace service: each user's temporary workspace, a projection of the log."""
