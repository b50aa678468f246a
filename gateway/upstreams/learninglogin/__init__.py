"""LEARNINGLOGIN train sessions (docs/vendors.md).

    records.py   `TrainSession` and the search filters
    errors.py    LearningLogin's failures, some of them dressed as 200s
    client.py    `LearningLoginClient`

The token rides in the `token` query parameter (the only auth the documents show); listings are bare
JSON arrays paged by RFC 8288 `Link` headers (64 a page, `Total` and `Per-Page` headers) and
filtered with ransack-style parameters; unassigning reports "nothing matched" as a 200 with text.
The course player (`/train_sessions/{login_id}/{course_code}?token=...`) has no method here: its
URL carries the account token, so the gateway never builds or hands it out.
"""
