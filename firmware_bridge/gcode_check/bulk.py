"""Bulk checks of a chunk's plain moves: bounds, arc extremes, run time.

The fast path (`fast.py`) walks a chunk's runs of plain moves and other lines in order,
setting the interpreter's state at each run's end; the per-move work that needs only each
run's starting state is done here for all moves at once, with numpy. The rules mirror the
interpreter's (`_motion`, `_visit`, `_account`, `_spindle`); the arc geometry and the
violations are the interpreter's own (`arcs.arc_extents`, `Interpreter.bounds_violation`,
`Interpreter.power_violation`), and the agreement tests hold the rest to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from firmware_bridge.gcode_check.arcs import arc_extents
from firmware_bridge.gcode_check.report import MAX_VIOLATIONS, CheckReport, Violation

if TYPE_CHECKING:
    from firmware_bridge.gcode_check.fast import Chunk


class BulkMoves:
    """Bounds, arcs and run time of one chunk's plain moves, once each run's starting state
    is known (`fast.Chunk.apply`, step 3)."""

    def __init__(self, chunk: Chunk, state: np.ndarray, slow: np.ndarray, fill: dict[str, np.ndarray]) -> None:
        self.c = chunk
        self.interp = chunk.interp
        self.fill = fill
        runs = np.flatnonzero(chunk.nonempty)
        self.state = state[runs]  # the starting state of each run that has moves, in order
        self.counts = (chunk.end - chunk.start)[runs]
        self.slow_rows: np.ndarray | None = None
        if slow.any():
            self.slow_rows = np.repeat(slow[runs], self.counts)
        self._run_of_row: np.ndarray | None = None
        self.found: list[tuple[int, int, Violation]] = []

    def per_row(self, k: int) -> float | np.ndarray:
        """State column k (see `Chunk.apply`) for every move: a scalar if all runs agree."""
        column = self.state[:, k]
        if (column == column[0]).all():
            return float(column[0])
        if self._run_of_row is None:
            self._run_of_row = np.repeat(np.arange(len(self.state)), self.counts)
        return column[self._run_of_row]

    def filled(self, letter: str, target: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Where each move leaves this axis: its own `target` or, if it names none, the
        last in its run, or the run's starting value `start`."""
        firsts = self.c.firsts
        fixed = target.copy()
        head = fixed[firsts]
        fixed[firsts] = np.where(np.isnan(head), start, head)
        if letter not in self.fill:
            self.fill[letter] = self.c.fill_index(self.c.col[letter])
        return fixed[self.fill[letter]]

    def previous(self, position: np.ndarray, start: np.ndarray) -> np.ndarray:
        before = np.empty_like(position)
        before[1:] = position[:-1]
        before[self.c.firsts] = start
        return before

    def run(self) -> list[tuple[int, int, Violation]]:
        c, interp = self.c, self.interp
        m = len(c.line)
        scale = self.per_row(4)
        squared = np.zeros(m)
        targets, before, after = [], [], []
        for ax, letter in enumerate("XYZ"):
            offset = self.per_row(5 + ax)
            if isinstance(offset, float) and offset == 0.0:
                target = c.col[letter] * scale
            else:
                target = c.col[letter] * scale + offset
            if self.slow_rows is not None:
                target[self.slow_rows] = np.nan  # the interpreter did those
            position = self.filled(letter, target, self.state[:, ax])
            prev = self.previous(position, self.state[:, ax])
            targets.append(target)
            before.append(prev)
            after.append(position)
            delta = position - prev
            np.multiply(delta, delta, out=delta)
            np.fmax(delta, 0.0, out=delta)  # NaN (position not known yet) counts 0
            squared += delta
        distance = np.sqrt(squared)
        arcs = np.flatnonzero(c.g >= 2)
        if self.slow_rows is not None and len(arcs):
            arcs = arcs[~self.slow_rows[arcs]]
        if len(arcs):
            self.arcs(arcs, targets, before, after, distance)
        for ax in range(3):
            self.bounds(ax, targets[ax])
        self.power()
        e = c.col["E"]
        if not np.isnan(e).all():
            e_abs = self.per_row(8)
            if isinstance(e_abs, float) and e_abs == 0.0:
                e_delta = np.abs(e)
            else:
                position = self.filled("E", e, self.state[:, 9])
                prev = self.previous(position, self.state[:, 9])
                e_delta = np.abs(np.where(e_abs == 1.0, position - prev, e))
            e_delta *= scale
            np.fmax(e_delta, 0.0, out=e_delta)
            distance = np.where(distance == 0.0, e_delta, distance)
        feed = self.filled("F", c.col["F"] * scale, self.state[:, 3])
        profile = interp.profile
        if profile.rapid_feed_mm_min:
            feed = np.where(c.g == 0, profile.rapid_feed_mm_min, feed)
        if profile.max_feed_mm_min:
            feed = np.minimum(feed, profile.max_feed_mm_min)
        ratio = distance / feed
        if self.slow_rows is not None:
            ratio[self.slow_rows] = 0.0
        interp.time_s += float(ratio.sum()) * 60.0
        return self.found

    # --- bounds -----------------------------------------------------------------------

    def bounds(self, ax: int, target: np.ndarray) -> None:
        """Extremes and out-of-bounds moves on one axis; arcs' X and Y are done in `arcs`."""
        interp = self.interp
        low, high = float(np.fmin.reduce(target)), float(np.fmax.reduce(target))
        if low == low:
            interp.bmin[ax] = min(interp.bmin[ax], low)
            interp.bmax[ax] = max(interp.bmax[ax], high)
        if low < interp.lo[ax] or high > interp.hi[ax]:
            bad = np.flatnonzero((target < interp.lo[ax]) | (target > interp.hi[ax]))
            g = self.c.g
            for k in bad.tolist():
                if g[k] < 2:
                    self.report(k, ax, ax, float(target[k]))
                elif ax == 2:  # an arc's Z comes after its X and Y extremes
                    self.report(k, 4, ax, float(target[k]))

    def power(self) -> None:
        """GRBL's S on moves: the highest, and those above the machine's maximum (the
        interpreter checks S before the move: order -1)."""
        s = self.c.col["S"]
        if self.slow_rows is not None:
            s = np.where(self.slow_rows, np.nan, s)
        top = float(np.fmax.reduce(s)) if len(s) else float("nan")
        if top != top:  # no S at all
            return
        interp = self.interp
        if interp.max_s is None or top > interp.max_s:
            interp.max_s = top
        limit = interp.profile.max_s
        if limit is not None and top > limit:
            c = self.c
            for k in np.flatnonzero(s > limit).tolist():
                line = c.base + int(c.line[k]) + 1
                violation = interp.power_violation(line, float(s[k]), c.line_text(int(c.offset[k])))
                self.found.append((line, -1, violation))

    def report(self, k: int, order: int, ax: int, value: float) -> None:
        c = self.c
        line = c.base + int(c.line[k]) + 1
        text = c.line_text(int(c.offset[k]))
        self.found.append((line, order, self.interp.bounds_violation(line, ax, value, text)))

    # --- arcs -------------------------------------------------------------------------

    def arcs(
        self,
        idx: np.ndarray,
        targets: list[np.ndarray],
        before: list[np.ndarray],
        after: list[np.ndarray],
        distance: np.ndarray,
    ) -> None:
        """Bounds and lengths of G2/G3 arcs in the XY plane (I/J centres), all at once with
        `arcs.arc_extents`, the geometry the interpreter uses too."""
        c, interp = self.c, self.interp
        x0, y0 = before[0][idx], before[1][idx]
        x1, y1 = after[0][idx], after[1][idx]
        known = ~(np.isnan(x0) | np.isnan(y0) | np.isnan(x1) | np.isnan(y1))
        if not known.all():
            unknown = idx[~known]
            interp.warn_once(
                "arc", f"line {c.base + int(c.line[unknown[0]]) + 1}: arc from an unknown position; not checked"
            )
            for target in targets:  # the interpreter checks nothing of such an arc
                target[unknown] = np.nan
            idx, x0, y0, x1, y1 = idx[known], x0[known], y0[known], x1[known], y1[known]
            if not len(idx):
                return
        scale = self.per_row(4)
        s = scale[idx] if isinstance(scale, np.ndarray) else scale
        cx = x0 + np.nan_to_num(c.col["I"][idx]) * s
        cy = y0 + np.nan_to_num(c.col["J"][idx]) * s
        min_x, min_y, max_x, max_y, length = arc_extents(x0, y0, x1, y1, cx, cy, c.g[idx] == 2)
        bounds = [min_x, min_y, max_x, max_y]
        for ax, (low, high) in enumerate(((bounds[0], bounds[2]), (bounds[1], bounds[3]))):
            interp.bmin[ax] = min(interp.bmin[ax], float(low.min()))
            interp.bmax[ax] = max(interp.bmax[ax], float(high.max()))
            for order, values in ((2 * ax, low), (2 * ax + 1, high)):
                outside = (values < interp.lo[ax]) | (values > interp.hi[ax])
                for j in np.flatnonzero(outside).tolist():
                    self.report(int(idx[j]), order, ax, float(values[j]))
        dz = after[2][idx] - before[2][idx]
        distance[idx] = np.hypot(length, np.where(np.isnan(dz), 0.0, dz))


def merge_violations(report: CheckReport, kept: int, found: list[tuple[int, int, Violation]]) -> None:
    """Add the bulk-checked violations as if every line had been read in order, so the
    report lists the same first `MAX_VIOLATIONS` as the interpreter alone would. A line is
    either read by the interpreter or checked in bulk, never both."""
    report.violation_count += len(found)
    ordered = [(v.line, 0, i, v) for i, v in enumerate(report.violations[kept:])]
    ordered += [(line, order, 0, v) for line, order, v in found]
    ordered.sort(key=lambda t: t[:3])
    report.violations[kept:] = [t[3] for t in ordered[: max(0, MAX_VIOLATIONS - kept)]]
