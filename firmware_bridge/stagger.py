"""Staggered starts: a node never switches on the heaters of all its machines at once.

A print farm's printers each draw several hundred watts while heating bed and hotend;
started together they trip breakers (a request from print-farm labs). Every machine worker
asks `wait_turn()` right before it starts a job; turns are handed out at least `delay_s`
apart, first come first served, and a start long after the last one does not wait.

A node has one `StartStagger`, made by its agent and handed to each of its machine workers;
there is no process-wide table, so two agents in one process (tests) keep their own turns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable


class StartStagger:
    """Hands out start slots `delay_s` apart to any number of threads.

    Slots are spaced between *different* machines (`who`): a machine starting its next job
    right after its last one adds no new heater load, so it does not wait for itself.
    """

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
        self._slots: dict[Hashable, float] = {}

    def reserve(self, who: Hashable | None = None) -> float:
        """Take the next slot for machine `who` (None: a caller of its own); return how many
        seconds from now it is (0 = start now)."""
        key: Hashable = object() if who is None else who
        with self._lock:
            now = self._clock()
            # Forget slots too old to matter; keeps the table small.
            self._slots = {k: t for k, t in self._slots.items() if t + self.delay_s > now}
            slot = max([now] + [t + self.delay_s for k, t in self._slots.items() if k != key])
            self._slots[key] = slot
            return slot - now

    def wait_turn(self, who: Hashable | None = None) -> float:
        """Block until machine `who` may start; return the seconds waited."""
        wait = self.reserve(who)
        if wait > 0:
            self._sleep(wait)
        return wait
