"""Lowest layer: configuration, registries, errors and small shared types."""
