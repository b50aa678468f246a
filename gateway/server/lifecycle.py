"""Where this process is in its life, for `/readyz`, and the graceful drain on SIGTERM.

    lifecycle = Lifecycle()                 # STARTING until the lifespan has built everything
    with lifecycle.drain_on_signals():      # inside the lifespan, under uvicorn
        lifecycle.serving()
        ...

On SIGTERM (or SIGINT) the process turns DRAINING, so `/readyz` answers 503 on any connection still
open, and the signal goes on to uvicorn, which stops accepting, closes each WebSocket with 1012
(Service Restart: clients reconnect, through the load balancer, to another replica) and lets the
requests in flight finish, for up to the request deadline (`timeout_graceful_shutdown`).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger("gateway.server")

DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Phase(enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    DRAINING = "draining"


class Lifecycle:
    def __init__(self, phase: Phase = Phase.STARTING) -> None:
        self.phase = phase

    def serving(self) -> None:
        self.phase = Phase.SERVING

    def drain(self) -> None:
        if self.phase is not Phase.DRAINING:
            log.info("draining: no new connections; requests in flight finish, subscriptions are closed")
        self.phase = Phase.DRAINING

    @contextlib.contextmanager
    def drain_on_signals(self) -> Iterator[None]:
        """Marks the process draining on SIGTERM/SIGINT, then hands the signal to whoever had it."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only (an app served from a test's thread)
            return
        previous = {sig: signal.getsignal(sig) for sig in DRAIN_SIGNALS}

        def handle(sig: int, frame: FrameType | None) -> None:
            self.drain()
            before = previous[signal.Signals(sig)]
            if callable(before):
                before(sig, frame)
            elif before == signal.SIG_DFL:
                signal.signal(sig, signal.SIG_DFL)
                signal.raise_signal(sig)

        for sig in DRAIN_SIGNALS:
            signal.signal(sig, handle)
        try:
            yield
        finally:
            for sig, before in previous.items():
                if signal.getsignal(sig) is handle:
                    signal.signal(sig, before)
