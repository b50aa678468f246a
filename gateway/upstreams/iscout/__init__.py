"""ISCOUT: iScout's `completedtrainings.list` (docs/vendors.md).

    records.py   `IScoutCompletion` and `IScoutPage`
    errors.py    `{"ok": false, "error": id}` onto the error tree
    client.py    `IScoutClient`

Quirks: the token rides inside the JSON body; the one method is a POST that only reads, so it is
sent through the read path (retried, de-duplicated); failures are `{"ok": false, "error": id}`,
on HTTP 200 as often as not; `dateNumber` is YYYYMMDD as an integer and `created` epoch ms.
"""
