"""Alembic's scripts for the index's tables, run by `gateway.index.migrate` at start (`upgrade head`)."""
