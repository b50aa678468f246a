"""DAMSTRA (Damstra Learning, formerly Velpic) public API v2.

    records.py   the typed records, write inputs and the words DAMSTRA's filters take
    errors.py    DAMSTRA's error bodies onto the error tree
    client.py    `DamstraClient`: one declaration per endpoint

The key rides in the `AccessKey` header; listings page with `startIndex`/`maxResults` and answer
`{"results": [...], "meta": {"totalResultCount", ...}}`; errors are `{"message", "reason",
"internalCode", "error"}` bodies, sometimes on a 2xx.
"""
