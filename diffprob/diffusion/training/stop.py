"""Stopping a training run cleanly on Ctrl-C or SIGTERM, between two optimizer steps."""

from __future__ import annotations

import signal
import threading

__all__ = ["StopFlag"]


class StopFlag:
    """Turns SIGINT/SIGTERM into a request to stop after the current step.

    Stopping between steps means the checkpoint written on Ctrl-C is a consistent
    state (never half an optimizer update). A second Ctrl-C interrupts at once.
    Signal handlers can only be installed from the main thread; elsewhere (a
    notebook's worker thread) the flag is never set and Ctrl-C works as usual.

    Examples
    --------
    >>> with StopFlag() as stop:
    ...     stop.requested
    False
    """

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        if hasattr(signal, "SIGINT") and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
