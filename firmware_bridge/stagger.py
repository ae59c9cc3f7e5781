"""Staggered starts: a node never switches on the heaters of all its machines at once.

A print farm's printers each draw several hundred watts while heating bed and hotend;
started together they trip breakers (a request from print-farm labs). Every machine worker
asks `wait_turn()` right before it starts a job; turns are handed out at least `delay_s`
apart, first come first served, and a start long after the last one does not wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StartStagger:
    """Hands out start slots `delay_s` apart to any number of threads."""

    def __init__(
        self,
        delay_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, not {delay_s}")
        self.delay_s = delay_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = -float("inf")

    def reserve(self) -> float:
        """Take the next slot; return how many seconds from now it is (0 = start now)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.delay_s
            return slot - now

    def wait_turn(self) -> float:
        """Block until this caller may start; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
