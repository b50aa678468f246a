"""The data layer: per-request context, loaders (reads), writes, people, caches, events, idempotency."""
