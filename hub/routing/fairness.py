"""Sharing the cooperative's work: how far each lab is above its fair share of recent jobs.

A rolling window of accepted jobs; a lab's excess is (its jobs + prior) / (an equal share +
prior) - 1, floored at 0 and capped: with many jobs, a lab that has had twice its share gets
about 1, a lab below its share 0. Ranking adds `weight_fairness * excess` points.

Counts are kept incrementally (one time-ordered queue, a counter per lab) so a match reads
them in O(1) instead of walking every lab's history.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

MAX_EXCESS = 3.0
PRIOR_JOBS = 5.0
"""Every lab starts the window as if it had had this many jobs, and so had its fair share:
with a handful of jobs, shares are noise, and one job more should not send a maker across
town. The prior fades as real counts grow."""


def excess_ratio(count: int, total: int, active_labs: int) -> float:
    """How far above an equal share of `total` jobs among `active_labs` a lab with `count` is."""
    if total == 0 or active_labs <= 0:
        return 0.0
    fair = total / active_labs
    return min(MAX_EXCESS, max(0.0, (count + PRIOR_JOBS) / (fair + PRIOR_JOBS) - 1.0))


class FairnessLedger:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._events: deque[tuple[float, str]] = deque()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, node_id: str, at: float | None = None) -> None:
        at = at if at is not None else time.time()
        with self._lock:
            if self._events and at < self._events[-1][0]:
                # Out of order (a late event): keep the queue sorted so expiry stays correct.
                items = sorted([*self._events, (at, node_id)])
                self._events = deque(items)
            else:
                self._events.append((at, node_id))
            self._counts[node_id] += 1

    def load(self, entries: list[tuple[str, float]]) -> None:
        with self._lock:
            self._events = deque(sorted((at, node) for node, at in entries))
            self._counts = Counter(node for _, node in self._events)

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._events and self._events[0][0] < cutoff:
            _, node = self._events.popleft()
            self._counts[node] -= 1
            if self._counts[node] <= 0:
                del self._counts[node]

    def snapshot(self, *, now: float | None = None) -> tuple[Counter[str], int]:
        """The per-lab counts in the window and their total (the counter is shared: read only)."""
        with self._lock:
            self._expire(now if now is not None else time.time())
            return self._counts, len(self._events)

    def counts(self, *, now: float | None = None) -> dict[str, int]:
        counts, _ = self.snapshot(now=now)
        return dict(counts)

    def excess(self, node_id: str, active_labs: int, *, now: float | None = None) -> float:
        counts, total = self.snapshot(now=now)
        return excess_ratio(counts.get(node_id, 0), total, active_labs)
