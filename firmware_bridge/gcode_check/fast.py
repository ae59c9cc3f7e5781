"""The fast path of the safety check: a C lexer, then whole chunks of moves as numpy arrays.

Sliced G-code is mostly `G1 X.. Y.. E..` lines, 3.7 million of them in 100 MB. The target
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
  caller allows, and GRBL's lines of axis words alone: values written to arrays), *passive*
  (M codes that change nothing checked) or *other*. It knows no rule: which G codes,
  letters and M codes count is passed in from here (dialect, forbidden commands), and
  anything it is not sure to read exactly as `lines.parse_line` does goes to the
  interpreter as an *other* line. The rules stay in Python, so there is no second copy of
  them in C to keep in step.

Then, per chunk of `CHUNK_BYTES` (memory stays bounded: arrays for one chunk only):

1. Other lines split the plain moves into runs. Between two other lines, a run changes the
   state only through its last values, so a forward fill per column gives each run's end.
2. A short Python loop walks the runs in order: it sets the interpreter's position, feed,
   extruder and motion mode to the run's end and hands it the next other line
   (`Interpreter.feed_line`, the reference reading). Runs in relative mode (G91) or with
   arcs outside the XY plane go through the interpreter line by line. GRBL's modal lines
   (`X1 Y2`) take the last G0-G3 of their run, or the interpreter's mode where the run
   starts.
3. Afterwards, with each run's starting state known, `bulk.py` does bounds (minimum,
   maximum, violations from `np.flatnonzero`), arc bulges and run time for every move at once.

The interpreter is the reference: tests hold this path to the same report on generated
programs, the test corpus and every unsafe case. The rules of plain moves (bounds, arc
extremes, time and filament) exist here as array operations beside the interpreter's
per-line ones; they are few, and the agreement tests are what keeps the two the same.

Measured (`.venv/bin/python -m bench.gcode_check`, 100 MB, 3 runs on 2 busy cores):
108-241 MB/s, 2.0-2.3x the time of `for line in open(path)`, with about 25-35 % in the
lexer, 5-10 % reading, 10-15 % the interpreter's other lines (one `G92 E0` per layer) and
the rest numpy.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from firmware_bridge.gcode_check.bulk import BulkMoves, merge_violations
from firmware_bridge.gcode_check.interpreter import Interpreter

try:
    from firmware_bridge.gcode_check import _lexer

    AVAILABLE = True
except ImportError:  # not built (a checkout without `pip install -e .`)
    AVAILABLE = False
"""False when the C lexer is not built; `check_file` then interprets every line."""

CHUNK_BYTES = 1 << 20
"""Small enough that a chunk's arrays (8 columns of about 37,000 moves) stay in cache."""
_LINE_LIMIT = 1 << 20

_COLUMNS = "XYZEFIJS"
MODAL = 255
"""The lexer's G code for a GRBL line of axis words alone: the motion mode in force."""


def _bits(letters: str) -> int:
    return sum(1 << (ord(c) - 65) for c in set(letters))


_MOVE_WORDS = {"marlin": "XYZEF", "klipper": "XYZEF", "grbl": "XYZFS"}  # GRBL: S is laser power
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
        if not AVAILABLE:
            raise RuntimeError("the G-code lexer (_lexer.c) is not built: run pip install -e .")
        self.interp = interp
        self.lines = 0
        profile = interp.profile
        forbidden = profile.forbidden
        move = _bits(_MOVE_WORDS[profile.dialect])
        self.g_words = [move if f"G{g}" not in forbidden else 0 for g in (0, 1)]
        self.g_words += [move | _bits("IJ") if f"G{g}" not in forbidden else 0 for g in (2, 3)]
        # GRBL reads `X1 Y2` in the motion mode in force (code MODAL, resolved in the walk).
        self.g_words.append(move | _bits("IJ") if profile.dialect == "grbl" else 0)
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
        return _lexer.lex(
            chunk,
            self._room,
            self.g_words,
            self.passive,
            self.passive_words,
            self._line,
            self._g,
            self._offset,
            self._values,
            self._other,
        )

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
            nlines, m, nother, _room = self._lex(chunk)
        except OverflowError:
            self._buffers(chunk.count(b"\n") + 1)
            nlines, m, nother, _room = self._lex(chunk)
        Chunk(
            self.interp,
            chunk,
            base,
            self._line[:m],
            self._g[:m],
            self._offset[:m],
            self._values[:, :m],
            self._other[:nother],
            self._arange[:m],
            self.g_words,
        ).apply()
        self.lines = base + nlines


class Chunk:
    """One lexed chunk: plain moves as columns, other lines in between, applied in order."""

    def __init__(
        self,
        interp: Interpreter,
        text: bytes,
        base: int,
        line: np.ndarray,
        g: np.ndarray,
        offset: np.ndarray,
        values: np.ndarray,
        other: np.ndarray,
        arange: np.ndarray,
        g_words: list[int],
    ) -> None:
        self.interp = interp
        self.text = text
        self.base = base
        self.line = line
        self.g = g
        self.offset = offset
        self.col = dict(zip(_COLUMNS, values, strict=True))
        self.other = other
        self.arange = arange
        self.g_words = g_words
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

    def fill_index(self, column: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """For each move, the index of the last move at or before it in its run that names
        this column (or is `present`), or the run's first move if none does."""
        if present is None:
            present = ~np.isnan(column)
        present[self.firsts] = True
        index = self.arange * present
        np.maximum.accumulate(index, out=index)
        return index

    def _resolve_modal(self, slow: np.ndarray) -> np.ndarray:
        """GRBL lines without a G code move in the mode in force: the last G0-G3 before them
        in their run, or for those before any in their run, the interpreter's mode when the
        run starts (`_modal_start`). Returns, per run with moves, how many lead its run.
        Marks `slow` the runs with a modal arc lacking I and J (the interpreter says why)."""
        modal = self.g == MODAL
        if not modal.any():
            return np.zeros(len(self.firsts), dtype=np.int64)
        self.g = g = self.g[self.fill_index(self.g, ~modal)]
        centreless = modal & (g >= 2) & (g != MODAL)
        centreless &= np.isnan(self.col["I"]) & np.isnan(self.col["J"])
        if centreless.any():
            slow[np.searchsorted(self.end, np.flatnonzero(centreless), side="right")] = True
        return np.add.reduceat((g == MODAL).astype(np.int64), self.firsts)

    def _modal_start(self, r: int, count: int, has_arc: list[bool], last_g: list[float]) -> bool:
        """Give the `count` modal moves that start run `r` the interpreter's motion mode;
        False if the run must be read line by line instead (no mode yet, or an arc mode and
        a move without I or J)."""
        motion = self.interp.motion
        if motion is None or not 0 <= motion <= 3 or not self.g_words[motion]:
            return False
        k0 = int(self.start[r])
        if motion >= 2:
            centred = ~(np.isnan(self.col["I"][k0 : k0 + count]) & np.isnan(self.col["J"][k0 : k0 + count]))
            if not centred.all():
                return False
            has_arc[r] = True
        self.g[k0 : k0 + count] = motion
        if k0 + count == int(self.end[r]):
            last_g[r] = motion
        return True

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
                fill[letter] = index = self.fill_index(self.col[letter])
                values[nonempty] = self.col[letter][index[ends]]
            return values.tolist()

        for letter in "XYZF":
            last[letter] = last_values(letter)
        e_sum = np.zeros(nruns)
        has_arc = np.zeros(nruns, dtype=bool)
        last_g = np.zeros(nruns)
        leading = np.zeros(nruns, dtype=np.int64)
        slow = np.zeros(nruns, dtype=bool)
        if m:
            e_sum[nonempty] = np.add.reduceat(np.nan_to_num(self.col["E"]), self.firsts)
            if self.g_words[4]:
                leading[nonempty] = self._resolve_modal(slow)
            arcs = np.flatnonzero((self.g >= 2) & (self.g != MODAL))
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
        # Each run's starting state, for step 3: x y z (mm), feed (mm/min), scale (mm per
        # unit), G92 offsets x y z, extrusion absolute (1) or relative (0), e (program units).
        state = np.full((nruns, 10), np.nan)
        has_plain = nonempty.tolist()
        has_arc_l, e_sum_l, last_g_l = has_arc.tolist(), e_sum.tolist(), last_g.tolist()
        leading_l, slow_l = leading.tolist(), slow.tolist()
        lx, ly, lz, lf = (last[c] for c in "XYZF")
        le: list[float] | None = None  # E's last values: only absolute extrusion needs them
        for r in range(nruns):
            if has_plain[r]:
                pos = interp.pos
                scale, offset = interp.scale, interp.offset
                state[r] = (*pos, interp.feed, scale, *offset, 1.0 if interp.e_absolute else 0.0, interp.e)
                if leading_l[r] and not slow_l[r]:
                    slow_l[r] = not self._modal_start(r, leading_l[r], has_arc_l, last_g_l)
                if slow_l[r] or not interp.absolute or (has_arc_l[r] and interp.plane != 17):
                    slow[r] = True
                    for k in range(int(start[r]), int(end[r])):
                        feed_line(self.base + int(self.line[k]) + 1, self.line_text(int(self.offset[k])))
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
                feed_line(other_line[r], text[other_start[r] : other_end[r]].decode("latin-1"))
        if m and not slow[nonempty].all():
            # --- 3. bounds, arcs and estimates of the runs applied in bulk -------------
            with np.errstate(over="ignore", invalid="ignore"):  # absurd numbers: inf
                found = BulkMoves(self, state, slow, fill).run()
            if found:
                merge_violations(interp.report, kept, found)
