"""The library service: permanent library and collections, projections of the log."""
