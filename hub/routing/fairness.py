"""Sharing the cooperative's work: how far each lab is above its fair share of recent jobs.

A rolling window of accepted jobs per lab; a lab's excess is (its jobs / an equal share) - 1,
floored at 0 and capped, so a lab that has had twice its share gets excess 1 and a lab that
had fewer than its share gets 0. Ranking adds `weight_fairness * excess` points.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

MAX_EXCESS = 3.0


def excess_ratio(count: int, total: int, active_labs: int) -> float:
    """How far above an equal share of `total` jobs among `active_labs` a lab with `count` is."""
    if total == 0 or active_labs <= 0:
        return 0.0
    return min(MAX_EXCESS, max(0.0, count / (total / active_labs) - 1.0))


class FairnessLedger:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._jobs: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def record(self, node_id: str, at: float | None = None) -> None:
        with self._lock:
            self._jobs[node_id].append(at if at is not None else time.time())

    def load(self, entries: list[tuple[str, float]]) -> None:
        with self._lock:
            self._jobs.clear()
            for node_id, at in sorted(entries, key=lambda e: e[1]):
                self._jobs[node_id].append(at)

    def excess(self, node_id: str, active_labs: int, *, now: float | None = None) -> float:
        counts = self.counts(now=now)
        return excess_ratio(counts.get(node_id, 0), sum(counts.values()), active_labs)

    def counts(self, *, now: float | None = None) -> dict[str, int]:
        cutoff = (now if now is not None else time.time()) - self.window_s
        with self._lock:
            for queue in self._jobs.values():
                while queue and queue[0] < cutoff:
                    queue.popleft()
            return {node: len(q) for node, q in self._jobs.items() if q}
