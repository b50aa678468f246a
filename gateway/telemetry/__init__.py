"""What LearnGraph tells an operator: metrics (`metrics`), traces (`tracing`), and the operation each
log line belongs to (`operation`, `logs`). Foundation: every layer records into it, it imports none.
The server's side (the middleware, `/metrics`) is `gateway.server.telemetry`."""
