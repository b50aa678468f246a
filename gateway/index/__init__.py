"""The training index: company-wide questions answered from a copy of the upstreams' records.

    tables.py      the tables (SQLAlchemy 2), one per kind of upstream object, plus sync_state
    rows.py        each kind's row as a dataclass, built from the typed upstream records
    store.py       TrainingIndex: open (migrates), idempotent upserts, reconciliation, sync state, reads
    migrate.py     Alembic's `upgrade head` at start; migrations/ holds its scripts

It sits between the data layer and the connectors: it knows records, never GraphQL, and the graph
reaches it only through gateway/data (access rules applied there, as for live reads).
"""
