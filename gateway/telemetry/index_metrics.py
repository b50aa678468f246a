"""The training index's sync in Prometheus: rows, state and freshness per source, and webhook lag.

    index_metrics.record_status("damstra", "LIVE", last_synced_at, {"schedule": 812, ...})
    WEBHOOK_TO_INDEX_SECONDS.observe(0.04)

Set whenever a replica reads the sync status (each sync step, `/readyz`, `Query.syncStatus`), so
every replica exports the shared index's numbers, not only the one syncing. In multiprocess mode
the gauges keep the most recent value (`mostrecent`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from prometheus_client import Gauge, Histogram

STATES = ("BACKFILLING", "LIVE", "DISABLED", "FAILING")

INDEX_ROWS = Gauge(
    "learngraph_index_rows",
    "Rows in the training index, by source and kind",
    ["source", "kind"],
    multiprocess_mode="mostrecent",
)
SYNC_STATE = Gauge(
    "learngraph_index_sync_state",
    "1 for each source's current sync state (BACKFILLING, LIVE, DISABLED, FAILING), 0 for the others",
    ["source", "state"],
    multiprocess_mode="mostrecent",
)
LAST_SYNCED_AGE = Gauge(
    "learngraph_index_last_synced_age_seconds",
    "Seconds since a source's last successful read into the index, as of the last status read",
    ["source"],
    multiprocess_mode="mostrecent",
)
WEBHOOK_TO_INDEX_SECONDS = Histogram(
    "learngraph_index_webhook_lag_seconds",
    "From a DAMSTRA webhook's arrival to the index holding what it named",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)


def record_status(source: str, state: str, last_synced_at: datetime | None, rows: Mapping[str, int]) -> None:
    for name in STATES:
        SYNC_STATE.labels(source, name).set(1 if name == state else 0)
    if last_synced_at is not None:
        LAST_SYNCED_AGE.labels(source).set(max(0.0, (datetime.now(UTC) - last_synced_at).total_seconds()))
    for kind, count in rows.items():
        INDEX_ROWS.labels(source, kind).set(count)
