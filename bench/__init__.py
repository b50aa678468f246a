"""Benchmarks of the gateway against the sandbox upstreams: `make bench` (see bench/run.py)."""
