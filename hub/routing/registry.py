"""The live registry of labs, in memory, indexed for matching.

Matching must answer in a couple of milliseconds among 10,000 labs, which a database query
per job does not. Labs are points on a unit sphere in a k-d tree (scipy's cKDTree): chord
distance grows with great-circle distance, so the tree yields labs nearest first. Snapshots
are replaced whole on every change; the tree is rebuilt only when labs are added, removed or
moved (rare), not on status updates (frequent).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import numpy as np
from scipy.spatial import cKDTree

from hub.routing.geo import EARTH_RADIUS_KM
from hub.routing.snapshots import LabView


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def chord_to_km(chord: float) -> float:
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, chord / 2))


def _is_active(lab: LabView | None) -> int:
    return int(lab is not None and lab.membership == "active")


class LabRegistry:
    def __init__(self) -> None:
        self._labs: dict[str, LabView] = {}
        self._lock = threading.RLock()
        self._tree: cKDTree | None = None
        self._tree_ids: list[str] = []
        self._dirty = True
        self._active = 0

    def __len__(self) -> int:
        return len(self._labs)

    def get(self, node_id: str) -> LabView | None:
        return self._labs.get(node_id)

    def labs(self) -> list[LabView]:
        return list(self._labs.values())

    def replace(self, lab: LabView) -> None:
        with self._lock:
            old = self._labs.get(lab.node_id)
            self._labs[lab.node_id] = lab
            self._active += _is_active(lab) - _is_active(old)
            if old is None or (old.lat, old.lon) != (lab.lat, lab.lon):
                self._dirty = True

    def replace_all(self, labs: list[LabView]) -> None:
        with self._lock:
            self._labs = {lab.node_id: lab for lab in labs}
            self._active = sum(_is_active(lab) for lab in self._labs.values())
            self._dirty = True

    def remove(self, node_id: str) -> None:
        with self._lock:
            old = self._labs.pop(node_id, None)
            if old is not None:
                self._active -= _is_active(old)
                self._dirty = True

    def active_count(self) -> int:
        """Active member labs: the denominator of a fair share (kept as a running count)."""
        return self._active

    def _index(self) -> tuple[cKDTree | None, list[str]]:
        with self._lock:
            if self._dirty:
                ids = list(self._labs)
                if ids:
                    points = np.array([unit_vector(self._labs[i].lat, self._labs[i].lon) for i in ids])
                    self._tree = cKDTree(points)
                else:
                    self._tree = None
                self._tree_ids = ids
                self._dirty = False
            return self._tree, self._tree_ids

    def nearest(self, lat: float, lon: float, *, first_batch: int = 16) -> Iterator[tuple[LabView, float]]:
        """Labs with their great-circle distance in km, nearest first, fetched in growing batches."""
        tree, ids = self._index()
        if tree is None:
            return
        point = unit_vector(lat, lon)
        seen = 0
        k = min(first_batch, len(ids))
        while seen < len(ids):
            distances, indexes = tree.query(point, k=k)
            distances, indexes = np.atleast_1d(distances), np.atleast_1d(indexes)
            for chord, index in zip(distances[seen:], indexes[seen:]):
                lab = self._labs.get(ids[index])
                if lab is not None:
                    yield lab, chord_to_km(float(chord))
            seen = k
            k = min(k * 4, len(ids))
