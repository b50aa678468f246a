"""`python -m gateway`: the `learngraph` command (gateway/server/cli.py)."""

from gateway.server.cli import main

raise SystemExit(main())
