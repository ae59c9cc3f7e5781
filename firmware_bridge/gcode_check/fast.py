"""The fast path of the safety check: a C lexer, then whole chunks of moves as numpy arrays.

Sliced G-code is mostly `G1 X.. Y.. E..` lines, 3.8 million of them in 100 MB. The target
(within 4x of merely reading and splitting the file in Python, about 0.8 s for 100 MB here)
leaves no room for Python work per line, so per-line work is done outside the interpreter.

How, and why this way rather than another:

* A library: PyPI has G-code parsers (pygcode, gcodeparser, gcode-lib...), all pure Python
  and slower than our own interpreter; none in Rust or C with Python bindings. None to take.
* numpy alone (the previous fast path): the regex comment strip, letter search, blanking and
  `np.fromstring` make about 20 passes over the text and a sort of tokens into lines; it
  topped out near 20-30 MB/s, 17x the read-and-split. Modal state by forward fills is kept
  (step 1 below); the tokenizing is what numpy cannot do in one pass.
* So the tokenizer is in C (`_lexer.c`, built by setup.py; only a compiler and Python's
  headers needed). It reads each line once and sorts it into *plain* (G0-G3 with words the
  caller allows: values written to arrays), *passive* (M codes that change nothing checked)
  or *other*. It knows no rule: which G codes, letters and M codes count is passed in from
  here (dialect, forbidden commands), and anything it is not sure to read exactly as
  `lines.parse_line` does goes to the interpreter as an *other* line.

Then, per chunk of `CHUNK_BYTES` (memory stays bounded: arrays for one chunk only):

1. Other lines split the plain moves into runs. Between two other lines, a run changes the
   state only through its last values, so a forward fill per column gives each run's end.
2. A short Python loop walks the runs in order: it sets the interpreter's position, feed,
   extruder and motion mode to the run's end and hands it the next other line
   (`Interpreter.feed_line`, the reference reading). Runs in relative mode (G91) or with
   arcs outside the XY plane go through the interpreter line by line.
3. Afterwards, with each run's starting state known: bounds (minimum, maximum, violations
   from `np.flatnonzero`), arc bulges, and run time and filament for every move at once.

The interpreter is the reference: tests hold this path to the same report on generated
programs, the shared corpus and every unsafe case. The rules of plain moves (bounds, arc
extremes, time and filament) exist here as array operations beside the interpreter's
per-line ones; they are few, and the agreement tests are what keeps the two the same.

Measured (`.venv/bin/python -m bench.gcode_check`, 100 MB): 182-196 MB/s, 1.7-2.1x the
time of `for line in open(path)`, with about 35 % in the lexer, 10 % reading, 10 % the
interpreter's other lines (one `G92 E0` per layer) and the rest numpy.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from firmware_bridge.gcode_check.arcs import arc_extents
from firmware_bridge.gcode_check.interpreter import Interpreter
from firmware_bridge.gcode_check.report import MAX_VIOLATIONS, Violation

try:
    from firmware_bridge.gcode_check import _lexer
except ImportError:  # not built (a checkout without `pip install -e .`)
    _lexer = None

AVAILABLE = _lexer is not None
"""False when the C lexer is not built; `check_file` then interprets every line."""

CHUNK_BYTES = 1 << 20
"""Small enough that a chunk's arrays (7 columns of about 37,000 moves) stay in cache."""
_LINE_LIMIT = 1 << 20

_COLUMNS = "XYZEFIJ"


def _bits(letters: str) -> int:
    return sum(1 << (ord(c) - 65) for c in set(letters))


_MOVE_WORDS = {"marlin": "XYZEF", "klipper": "XYZEF", "grbl": "XYZF"}
_PASSIVE_WORDS = {"marlin": "SPRTXYZE", "klipper": "SPRTXYZE", "grbl": ""}
_PASSIVE_M = {
    "marlin": (73, 106, 107, 117, 201, 203, 204, 205, 220, 221, 400, 900),
    "klipper": (73, 106, 107, 117, 201, 203, 204, 205, 220, 221, 400, 900),
    "grbl": (5, 7, 8, 9),
}
"""M codes that change nothing the check follows: fan, progress, accelerations, overrides."""


def scan(stream: BinaryIO, interp: Interpreter) -> tuple[int, int]:
    """Check everything `stream` yields; return (lines, bytes)."""
    scanner = _Scanner(interp)
    total = 0
    rest = b""
    while True:
        data = stream.read(CHUNK_BYTES)
        if not data:
            break
        total += len(data)
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > _LINE_LIMIT:
                scanner.long_line()
                data = b""
            rest = data
            continue
        rest = data[cut:]
        scanner.chunk(data[:cut] if rest else data)
    if rest:
        scanner.chunk(rest + b"\n")
    return scanner.lines, total


class _Scanner:
    """Lexes chunks and applies them to the interpreter in order."""

    def __init__(self, interp: Interpreter) -> None:
        if _lexer is None:
            raise RuntimeError("the G-code lexer (_lexer.c) is not built: run pip install -e .")
        self.interp = interp
        self.lines = 0
        profile = interp.profile
        forbidden = profile.forbidden
        move = _bits(_MOVE_WORDS[profile.dialect])
        self.g_words = [move if f"G{g}" not in forbidden else 0 for g in (0, 1)]
        self.g_words += [move | _bits("IJ") if f"G{g}" not in forbidden else 0 for g in (2, 3)]
        passive = np.zeros(1024, dtype=np.uint8)
        passive[[m for m in _PASSIVE_M[profile.dialect] if f"M{m}" not in forbidden]] = 1
        self.passive = passive.tobytes()
        self.passive_words = _bits(_PASSIVE_WORDS[profile.dialect])
        self.skip_long = False
        self._room = 0

    def long_line(self) -> None:
        """A line over 1 MB is not G-code; report it once, skip to its end."""
        if not self.skip_long:
            self.interp.violation(self.lines + 1, "malformed", "line longer than 1 MB", "")
            self.skip_long = True

    def _buffers(self, room: int) -> None:
        if room > self._room:
            self._room = room = max(room, 2 * self._room)
            self._line = np.empty(room, np.int32)
            self._g = np.empty(room, np.uint8)
            self._offset = np.empty(room, np.int64)
            self._values = np.empty((len(_COLUMNS), room))
            self._other = np.empty((room, 4), np.int64)
            self._arange = np.arange(room)

    def _lex(self, chunk: bytes) -> tuple[int, int, int, int]:
        return _lexer.lex(chunk, self._room, self.g_words, self.passive, self.passive_words,
                          self._line, self._g, self._offset, self._values, self._other)

    def chunk(self, chunk: bytes) -> None:
        base = self.lines
        if self.skip_long:
            # The tail of an over-long line: drop up to its newline.
            cut = chunk.find(b"\n") + 1
            chunk = chunk[cut:]
            self.skip_long = False
            self.lines += 1
            base += 1
            if not chunk:
                return
        # Room for a line per 16 bytes; a chunk of shorter lines is counted and lexed again.
        self._buffers(len(chunk) // 16 + 64)
        try:
            nlines, m, nother, room = self._lex(chunk)
        except OverflowError:
            self._buffers(chunk.count(b"\n") + 1)
            nlines, m, nother, room = self._lex(chunk)
        _Chunk(self.interp, chunk, base, self._line[:m], self._g[:m], self._offset[:m],
               self._values[:, :m],
               self._other[:nother], self._arange[:m]).apply()
        self.lines = base + nlines


class _Chunk:
    """One lexed chunk: plain moves as columns, other lines in between, applied in order."""

    def __init__(self, interp: Interpreter, text: bytes, base: int, line: np.ndarray,
                 g: np.ndarray, offset: np.ndarray, values: np.ndarray, other: np.ndarray,
                 arange: np.ndarray) -> None:
        self.interp = interp
        self.text = text
        self.base = base
        self.line = line
        self.g = g
        self.offset = offset
        self.col = dict(zip(_COLUMNS, values, strict=True))
        self.other = other
        self.arange = arange
        m = len(line)
        bounds = np.empty(len(other) + 2, np.int64)
        bounds[0] = 0
        bounds[1:-1] = other[:, 3]
        bounds[-1] = m
        self.start = bounds[:-1]
        self.end = bounds[1:]
        self.nonempty = self.end > self.start
        self.firsts = self.start[self.nonempty]

    def line_text(self, offset: int) -> str:
        end = self.text.find(b"\n", offset)
        return self.text[offset:end].decode("latin-1")

    # --- 1. the end of each run -----------------------------------------------------

    def _fill_index(self, column: np.ndarray) -> np.ndarray:
        """For each move, the index of the last move at or before it in its run that names
        this column, or the run's first move if none does."""
        present = ~np.isnan(column)
        present[self.firsts] = True
        index = self.arange * present
        np.maximum.accumulate(index, out=index)
        return index

    def apply(self) -> None:
        interp = self.interp
        m = len(self.line)
        nruns = len(self.other) + 1
        start, end, nonempty = self.start, self.end, self.nonempty
        fill: dict[str, np.ndarray] = {}
        last: dict[str, list[float]] = {}
        ends = end[nonempty] - 1
        def last_values(letter: str) -> list[float]:
            values = np.full(nruns, np.nan)
            if m:
                fill[letter] = index = self._fill_index(self.col[letter])
                values[nonempty] = self.col[letter][index[ends]]
            return values.tolist()

        for letter in "XYZF":
            last[letter] = last_values(letter)
        e_sum = np.zeros(nruns)
        has_arc = np.zeros(nruns, dtype=bool)
        last_g = np.zeros(nruns)
        if m:
            e_sum[nonempty] = np.add.reduceat(np.nan_to_num(self.col["E"]), self.firsts)
            arcs = np.flatnonzero(self.g >= 2)
            if len(arcs):
                has_arc[np.searchsorted(end, arcs, side="right")] = True
            last_g[nonempty] = self.g[ends]

        # --- 2. runs and other lines, in order ------------------------------------------
        other = self.other
        other_line = (other[:, 0] + (self.base + 1)).tolist()
        other_start = other[:, 1].tolist()
        other_end = other[:, 2].tolist()
        text = self.text
        feed_line = interp.feed_line
        kept = len(interp.report.violations)
        state = np.full((nruns, 10), np.nan)  # each run's starting state, for step 3
        slow = np.zeros(nruns, dtype=bool)
        has_plain = nonempty.tolist()
        has_arc_l, e_sum_l, last_g_l = has_arc.tolist(), e_sum.tolist(), last_g.tolist()
        lx, ly, lz, lf = (last[c] for c in "XYZF")
        le: list[float] | None = None  # E's last values: only absolute extrusion needs them
        for r in range(nruns):
            if has_plain[r]:
                pos = interp.pos
                scale, offset = interp.scale, interp.offset
                state[r] = (*pos, interp.feed, scale, *offset,
                            1.0 if interp.e_absolute else 0.0, interp.e)
                if not interp.absolute or (has_arc_l[r] and interp.plane != 17):
                    slow[r] = True
                    for k in range(int(start[r]), int(end[r])):
                        feed_line(self.base + int(self.line[k]) + 1,
                                  self.line_text(int(self.offset[k])))
                else:
                    value = lx[r]
                    if value == value:  # not NaN: the run moved this axis
                        pos[0] = value * scale + offset[0]
                    value = ly[r]
                    if value == value:
                        pos[1] = value * scale + offset[1]
                    value = lz[r]
                    if value == value:
                        pos[2] = value * scale + offset[2]
                    if interp.e_absolute:
                        if le is None:
                            le = last_values("E")
                        value = le[r]
                        if value == value:
                            interp.filament_mm += (value - interp.e) * scale
                            interp.e = value
                    else:  # a run without E adds 0
                        interp.filament_mm += e_sum_l[r] * scale
                        interp.e += e_sum_l[r]
                    value = lf[r]
                    if value == value:
                        interp.feed = value * scale
                    interp.motion = int(last_g_l[r])
            if r < nruns - 1:
                feed_line(other_line[r], text[other_start[r]:other_end[r]].decode("latin-1"))
        if m and not slow[nonempty].all():
            with np.errstate(over="ignore", invalid="ignore"):  # absurd numbers: inf, as in Python
                found = _Geometry(self, state, slow, fill).run()
            if found:
                _merge(interp, kept, found)


class _Geometry:
    """Step 3: bounds, arcs, run time of the moves of the runs applied in bulk."""

    def __init__(self, chunk: _Chunk, state: np.ndarray, slow: np.ndarray,
                 fill: dict[str, np.ndarray]) -> None:
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
        """State column k (see `_Chunk.apply`) for every move: a scalar if all runs agree."""
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
            self.fill[letter] = self.c._fill_index(self.c.col[letter])
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

    def report(self, k: int, order: int, ax: int, value: float) -> None:
        c = self.c
        line = c.base + int(c.line[k]) + 1
        text = c.line_text(int(c.offset[k]))
        self.found.append((line, order, self.interp.bounds_violation(line, ax, value, text)))

    # --- arcs -------------------------------------------------------------------------

    def arcs(self, idx: np.ndarray, targets: list[np.ndarray], before: list[np.ndarray],
             after: list[np.ndarray], distance: np.ndarray) -> None:
        """Bounds and lengths of G2/G3 arcs in the XY plane (I/J centres), all at once with
        `arcs.arc_extents`, the geometry the interpreter uses too."""
        c, interp = self.c, self.interp
        x0, y0 = before[0][idx], before[1][idx]
        x1, y1 = after[0][idx], after[1][idx]
        known = ~(np.isnan(x0) | np.isnan(y0) | np.isnan(x1) | np.isnan(y1))
        if not known.all():
            unknown = idx[~known]
            interp.warn_once("arc", f"line {c.base + int(c.line[unknown[0]]) + 1}: arc from an "
                             "unknown position; not checked")
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


def _merge(interp: Interpreter, kept: int, found: list[tuple[int, int, Violation]]) -> None:
    """Add the bulk-checked violations as if every line had been read in order, so the
    report lists the same first `MAX_VIOLATIONS` as the interpreter alone would. A line is
    either read by the interpreter or checked in bulk, never both."""
    report = interp.report
    report.violation_count += len(found)
    ordered = [(v.line, 0, i, v) for i, v in enumerate(report.violations[kept:])]
    ordered += [(line, order, 0, v) for line, order, v in found]
    ordered.sort(key=lambda t: t[:3])
    report.violations[kept:] = [t[3] for t in ordered[: max(0, MAX_VIOLATIONS - kept)]]
