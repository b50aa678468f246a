"""TRAINING_RECORDS: an HR suite's Training Records API (docs/vendors.md), a Django REST framework service.

    records.py   `TrainingRecord` and the `UNSET` marker of a PATCH
    errors.py    DRF error bodies onto the error tree
    client.py    `TrainingRecordsClient`

Quirks: every path ends in `/` (Django redirects GETs without it and loses writes); list pages
come as a bare array or as `{count, next, previous, results}` depending on the deployment; errors
are DRF bodies, `{"detail": "..."}` or field errors `{"field": ["message", ...]}`.
"""
