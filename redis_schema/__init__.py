"""Grenswacht's Redis key layout (see SCHEMA.md) and the storage layer that uses it."""
