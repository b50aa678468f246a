from __future__ import annotations

import io
import logging

from gateway.log_redaction import RedactSecrets


def test_secrets_are_rewritten_in_formatted_records() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["tok-123", "tok-123-long"]))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("HTTP Request: GET %s", "http://ll.test/api/train_sessions?token=tok-123-long&page=2")
        logger.warning("plain line")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "tok-123" not in text
    assert "token=[redacted]&page=2" in text
    assert "plain line" in text
