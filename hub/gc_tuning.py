"""Garbage-collector settings for a long-running hub process.

CPython's cyclic collector walks every tracked object in a full (generation 2) collection.
After start-up the hub holds well over a million of them (FastAPI, SQLAlchemy, pydantic,
trimesh, scipy and their caches), none of which ever becomes garbage, and under load a full
collection came every second or so: measured with bench.dispatch, collections took ~45 % of
the hub's CPU (0.26 s per full collection). `gc.freeze()` moves what exists after start-up
into a permanent generation the collector skips, and a larger first threshold makes young
collections (which also promote survivors toward full ones) rarer. Reference counting
still frees everything as before; only cycles among the frozen objects would never be
collected, and those are module-level state that lives as long as the process.
"""

from __future__ import annotations

import gc

# Young collections every 50,000 net allocations instead of 700: a request or a batch of
# events allocates tens of thousands of short-lived objects, nearly all freed by refcount.
YOUNG_THRESHOLD = 50_000


def settle_after_startup() -> None:
    """Call once the process has imported and built what it keeps for its lifetime."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
