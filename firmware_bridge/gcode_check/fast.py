"""The fast path of the safety check: whole chunks of plain moves at numpy speed.

Sliced G-code is mostly `G1 X.. Y.. E..` lines. A Python loop over 3.8 million such lines
costs more than the 4x-of-read-and-split budget, so this module works on 4 MB chunks:

1. Comments go with one `re.sub`, letters are upper-cased with `bytes.upper()`.
2. numpy finds every letter; the letters are blanked out and `np.fromstring` parses all
   numbers of the chunk in one C call. One number per letter or the chunk goes to the
   exact line-by-line interpreter (that is also how malformed lines get their reason).
3. A line is *plain* if it is G0/G1 with only X, Y, Z, E, F words (each once), *passive*
   if it is an M code that changes nothing the check follows (fan, progress, acceleration).
   Everything else (arcs, G92, temperatures, forbidden commands, Klipper macros, odd bytes)
   is handed to `Interpreter.feed_line`, in order.
4. Between two such lines, a run of plain moves changes the state only through its last
   values, and its bounds are its minima and maxima, so one pass of `reduceat` summarises
   all runs; then a short Python loop applies runs and hands over the other lines in order.
   Run time is computed afterwards for all plain moves at once.

Moves in relative mode (G91) are rare (start and end code) and go line by line.
"""

from __future__ import annotations

import re
import warnings
from typing import BinaryIO

import numpy as np

from firmware_bridge.gcode_check.interpreter import Interpreter

CHUNK_BYTES = 4 << 20
_SEMICOLON = re.compile(rb";[^\n]*")
_PAREN = re.compile(rb"\([^)\n]*\)")
_ALLOWED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+- \t\r\n"
_BLANK_LETTERS = bytes(32 if 65 <= c <= 90 else c for c in range(256))
_NUMBER_CHARS = np.frombuffer(b".0123456789", np.uint8)
_COLUMN = np.full(256, 7, dtype=np.intp)
_COLUMN[np.frombuffer(b"XYZEFIJ", np.uint8)] = np.arange(7)
_LETTER_BIT = np.zeros(256, dtype=np.int64)
_LETTER_BIT[65:91] = 1 << np.arange(26, dtype=np.int64)
_WEIRD = np.ones(256, dtype=bool)
_WEIRD[np.frombuffer(_ALLOWED, np.uint8)] = False

_BIT = {c: 1 << (ord(c) - 65) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_MOVE_WORDS = {
    "marlin": _BIT["G"] | _BIT["X"] | _BIT["Y"] | _BIT["Z"] | _BIT["E"] | _BIT["F"],
    "klipper": _BIT["G"] | _BIT["X"] | _BIT["Y"] | _BIT["Z"] | _BIT["E"] | _BIT["F"],
    "grbl": _BIT["G"] | _BIT["X"] | _BIT["Y"] | _BIT["Z"] | _BIT["F"],
}
_FDM_PASSIVE = _BIT["M"] | _BIT["S"] | _BIT["P"] | _BIT["R"] | _BIT["T"] | _BIT["X"] | _BIT["Y"] | _BIT["Z"] | _BIT["E"]
_CENTRE = _BIT["I"] | _BIT["J"]
_PASSIVE_WORDS = {"marlin": _FDM_PASSIVE, "klipper": _FDM_PASSIVE, "grbl": _BIT["M"]}
_PASSIVE_M = {
    "marlin": (73, 106, 107, 117, 201, 203, 204, 205, 220, 221, 400, 900),
    "klipper": (73, 106, 107, 117, 201, 203, 204, 205, 220, 221, 400, 900),
    "grbl": (5, 7, 8, 9),
}
"""M codes that change nothing the check follows: fan, progress, accelerations, overrides."""
_LINE_LIMIT = 1 << 20


class _Fallback(Exception):
    """The chunk has something the fast path does not read exactly; go line by line."""


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
                scanner.long_line(data)
                data = b""
            rest = data
            continue
        rest = data[cut:]
        scanner.chunk(data[:cut] if rest else data)
    if rest:
        scanner.chunk(rest + b"\n")
    return scanner.lines, total


class _Scanner:
    def __init__(self, interp: Interpreter) -> None:
        self.interp = interp
        self.lines = 0
        profile = interp.profile
        forbidden = profile.forbidden
        self.plain_g = [g for g in (0.0, 1.0) if f"G{g:g}" not in forbidden]
        self.passive_m = np.array(
            [m for m in _PASSIVE_M[profile.dialect] if f"M{m}" not in forbidden], dtype=np.float64
        )
        self.move_words = _MOVE_WORDS[profile.dialect]
        self.arc_g = [g for g in (2.0, 3.0) if f"G{g:g}" not in forbidden]
        self.arc_words = self.move_words | _CENTRE if self.arc_g else 0
        self.passive_words = _PASSIVE_WORDS[profile.dialect]
        self.skip_long = False

    def long_line(self, data: bytes) -> None:
        """A line over 1 MB is not G-code; report it once, skip to its end."""
        if not self.skip_long:
            self.interp.violation(self.lines + 1, "malformed", "line longer than 1 MB", "")
            self.skip_long = True

    # --- one chunk --------------------------------------------------------------------

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
        nlines = chunk.count(b"\n")
        try:
            self._fast(chunk, base)
        except _Fallback:
            self._slow(chunk, base)
        self.lines = base + nlines

    def _slow(self, chunk: bytes, base: int) -> None:
        feed = self.interp.feed_line
        for i, raw in enumerate(chunk.split(b"\n")[:-1]):
            feed(base + i + 1, raw.decode("latin-1"))

    def _fast(self, chunk: bytes, base: int) -> None:
        text = chunk
        if b";" in text:
            text = _SEMICOLON.sub(b"", text)
        if b"(" in text:
            text = _PAREN.sub(b"", text)
        text = text.upper() + b"     "  # padding: digits are looked up past line ends
        a = np.frombuffer(text, np.uint8)
        # Letters and newlines in one pass: their order gives each letter its line.
        events = np.flatnonzero(((a - np.uint8(65)) < 26) | (a == 10))
        is_nl = a[events] == 10
        nlpos = events[is_nl]
        letter_pos = events[~is_nl]
        token_line = np.cumsum(is_nl, dtype=np.int32)[~is_nl]
        after = a[letter_pos + 1]
        number_start = ((after - np.uint8(48)) < 10) | (after == 46) | (after == 45) | (after == 43)
        odd_lines: np.ndarray | None = None
        if not number_start.all():
            odd_lines = token_line[~number_start]
        if text.translate(None, _ALLOWED):
            weird = np.searchsorted(nlpos, np.flatnonzero(_WEIRD[a]))
            odd_lines = weird if odd_lines is None else np.concatenate((odd_lines, weird))
        buf = np.frombuffer(text.translate(_BLANK_LETTERS), np.uint8).copy()
        if odd_lines is not None:
            odd_lines = np.unique(odd_lines)
            starts = np.where(odd_lines > 0, nlpos[odd_lines - 1] + 1, 0)
            for s, e in zip(starts.tolist(), nlpos[odd_lines].tolist(), strict=True):
                buf[s:e] = 32
            keep = np.ones(len(nlpos), dtype=bool)
            keep[odd_lines] = False
            mask = keep[token_line]
            letter_pos, token_line = letter_pos[mask], token_line[mask]
        letters = a[letter_pos]
        # The command word (G1, M204...) of each line is read from its digits here and
        # blanked, which spares np.fromstring a quarter of its numbers.
        n = len(letters)
        starts_tok = np.ones(n, dtype=bool)
        starts_tok[1:] = token_line[1:] != token_line[:-1]
        head = a[letter_pos + 1] - np.uint8(48)
        by_digits = starts_tok & (head < 10) & (
            (letters == 71) | (letters == 77) | (letters == 84))  # G M T
        first_pos = letter_pos[by_digits] + 1
        command = np.zeros(len(first_pos))
        digits = np.zeros(len(first_pos), dtype=np.int64)
        ended = np.zeros(len(first_pos), dtype=bool)
        for k in range(4):
            digit = a[first_pos + k] - np.uint8(48)
            ended |= digit >= 10
            command = np.where(ended, command, command * 10 + digit)
            digits += ~ended
        buf_digits = first_pos[:, None] + np.arange(4)
        buf[buf_digits[np.arange(4) < digits[:, None]]] = 32
        if np.isin(a[first_pos + digits], _NUMBER_CHARS).any():
            raise _Fallback  # G38.2, G92.1 or a 5-digit code: the interpreter reads those
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                rest = np.fromstring(buf.tobytes(), sep=" ")  # type: ignore[call-overload]
        except ValueError:
            raise _Fallback from None
        if len(rest) != n - len(first_pos):
            raise _Fallback
        values = np.empty(n)
        values[by_digits] = command
        values[~by_digits] = rest
        self._classify(text, base, nlpos, odd_lines, letters, values, token_line)

    def _classify(self, text: bytes, base: int, nlpos: np.ndarray, odd_lines: np.ndarray | None,
                  letters: np.ndarray, values: np.ndarray, token_line: np.ndarray) -> None:
        """Sort lines into plain moves, passive lines and lines for the interpreter."""
        n = len(letters)
        starts_tok = np.ones(n, dtype=bool)
        starts_tok[1:] = token_line[1:] != token_line[:-1]
        first = np.flatnonzero(starts_tok)
        line_of = token_line[first]
        bits = _LETTER_BIT[letters]
        mask = np.bitwise_or.reduceat(bits, first) if n else np.zeros(0, np.int64)
        unique = np.bitwise_count(mask) == np.diff(first, append=n)
        cmd_letter = letters[first]
        cmd_value = values[first]
        is_g = (cmd_letter == 71) & unique
        plain = is_g & np.isin(cmd_value, self.plain_g) & ((mask & ~self.move_words) == 0)
        if self.arc_words:
            plain |= (
                is_g & np.isin(cmd_value, self.arc_g) & ((mask & ~self.arc_words) == 0)
                & ((mask & _CENTRE) != 0)
            )
        plain &= line_of >= 0
        passive = (
            (cmd_letter == 77) & unique & np.isin(cmd_value, self.passive_m)
            & ((mask & ~self.passive_words) == 0)
        )
        tok_li = np.cumsum(starts_tok, dtype=np.int32) - 1
        f_bad = (letters == 70) & (values <= 0)
        if f_bad.any():  # F must be positive: the interpreter says why not.
            plain[tok_li[f_bad]] = False
        complex_lines = line_of[~(plain | passive)]
        if odd_lines is not None:
            complex_lines = np.union1d(complex_lines, odd_lines)
        plain_tok = plain[tok_li]
        plain_rank = np.cumsum(plain) - 1
        m = int(plain.sum())
        letters_p = letters[plain_tok]
        values_p = values[plain_tok]
        rank_p = plain_rank[tok_li[plain_tok]]
        table = np.full((8, m), np.nan)
        table[_COLUMN[letters_p], rank_p] = values_p
        dense = dict(zip("XYZEFIJ", table, strict=False))
        self._apply(text, base, nlpos, complex_lines, line_of[plain], cmd_value[plain], dense)

    # --- runs of plain moves, in order with the other lines --------------------------

    def _apply(self, text: bytes, base: int, nlpos: np.ndarray, complex_lines: np.ndarray,
               plain_lines: np.ndarray, plain_g: np.ndarray, dense: dict[str, np.ndarray]) -> None:
        interp = self.interp
        nruns = len(complex_lines) + 1
        run_of_plain = np.searchsorted(complex_lines, plain_lines)
        runs = np.arange(nruns)
        plain_start = np.searchsorted(run_of_plain, runs, side="left")
        plain_end = np.searchsorted(run_of_plain, runs, side="right")
        nonempty = plain_end > plain_start
        seg = plain_start[nonempty]
        ends = plain_end[nonempty] - 1
        last: list[list[float]] = []
        for letter in "XYZEF":
            column = dense[letter]
            filled_at = np.where(np.isnan(column), -1, np.arange(len(column)))
            np.maximum.accumulate(filled_at, out=filled_at)
            values = np.full(nruns, np.nan)
            if len(seg):
                k = filled_at[ends]
                ok = k >= seg
                values[np.flatnonzero(nonempty)[ok]] = column[k[ok]]
            last.append(values.tolist())
        mins, maxs = [], []
        for letter in "XYZ":
            mn = np.full(nruns, np.nan)
            mx = np.full(nruns, np.nan)
            if len(seg):
                mn[nonempty] = np.fmin.reduceat(dense[letter], seg)
                mx[nonempty] = np.fmax.reduceat(dense[letter], seg)
            mins.append(mn.tolist())
            maxs.append(mx.tolist())
        e_sum = np.zeros(nruns)
        if len(seg):
            e_sum[nonempty] = np.add.reduceat(np.nan_to_num(dense["E"]), seg)
        e_sum_l = e_sum.tolist()
        has_arc = np.zeros(nruns, dtype=bool)
        if len(seg):
            has_arc[nonempty] = np.maximum.reduceat(plain_g, seg) >= 2
        has_arc_l = has_arc.tolist()
        has_plain = nonempty.tolist()
        last_g = np.full(nruns, -1.0)
        if len(seg):
            last_g[nonempty] = plain_g[ends]
        last_g_l = last_g.tolist()
        cx = complex_lines.tolist()
        line_start = np.concatenate(([0], nlpos[:-1] + 1))

        def line_text(i: int) -> str:
            return text[int(line_start[i]):int(nlpos[i])].decode("latin-1")

        cx_text = [text[s:e].decode("latin-1") for s, e in zip(
            line_start[complex_lines].tolist(), nlpos[complex_lines].tolist(), strict=True)]

        # State at the start of each run, for the geometry pass afterwards.
        run_state = np.full((nruns, 10), np.nan)  # filled row by row, read by column
        slow_run = np.zeros(nruns, dtype=bool)
        lo_b, hi_b = interp.lo, interp.hi
        bmin, bmax = interp.bmin, interp.bmax
        plain_lines_l: list[int] | None = None
        for r in range(nruns):
            if has_plain[r]:
                pos = interp.pos
                run_state[r] = (*pos, interp.feed, interp.scale, *interp.offset,
                                1.0 if interp.e_absolute else 0.0, interp.e)
                if not interp.absolute or (has_arc_l[r] and interp.plane != 17):
                    slow_run[r] = True
                    if plain_lines_l is None:
                        plain_lines_l = plain_lines.tolist()
                    for i in plain_lines_l[plain_start[r]:plain_end[r]]:
                        interp.feed_line(base + i + 1, line_text(i))
                else:
                    scale, offset = interp.scale, interp.offset
                    for ax in range(3):
                        value = last[ax][r]
                        if value == value:  # not NaN: the run moved this axis
                            mn = mins[ax][r] * scale + offset[ax]
                            mx = maxs[ax][r] * scale + offset[ax]
                            if mn < bmin[ax]:
                                bmin[ax] = mn
                            if mx > bmax[ax]:
                                bmax[ax] = mx
                            if mn < lo_b[ax] or mx > hi_b[ax]:
                                self._report_bounds(
                                    base, plain_lines, dense["XYZ"[ax]], plain_start[r],
                                    plain_end[r], ax, scale, offset[ax], line_text,
                                )
                            pos[ax] = value * scale + offset[ax]
                    e_last = last[3][r]
                    if e_last == e_last:
                        if interp.e_absolute:
                            interp.filament_mm += (e_last - interp.e) * scale
                            interp.e = e_last
                        else:
                            interp.filament_mm += e_sum_l[r] * scale
                            interp.e += e_sum_l[r]
                    f_last = last[4][r]
                    if f_last == f_last:
                        interp.feed = f_last * scale
                    interp.motion = int(last_g_l[r])
            if r < nruns - 1:
                interp.feed_line(base + cx[r] + 1, cx_text[r])
        self._geometry(base, run_of_plain, plain_lines, plain_g, dense, run_state, slow_run,
                       line_text)

    def _report_bounds(self, base: int, plain_lines: np.ndarray, column: np.ndarray, start: int,
                       end: int, ax: int, scale: float, offset: float, line_text) -> None:
        machine = column[start:end] * scale + offset
        bad = np.flatnonzero((machine < self.interp.lo[ax]) | (machine > self.interp.hi[ax]))
        for k in bad.tolist():
            line = int(plain_lines[start + k])
            self.interp.out_of_bounds(base + line + 1, ax, float(machine[k]), line_text(line))

    def _geometry(self, base: int, run_of_plain: np.ndarray, plain_lines: np.ndarray,
                  plain_g: np.ndarray, dense: dict[str, np.ndarray], run_state: np.ndarray,
                  slow_run: np.ndarray, line_text) -> None:
        """Time of every plain move, and the bulge of every arc, now that each run's start
        position is known."""
        m = len(plain_lines)
        if m == 0:
            return
        use = ~slow_run[run_of_plain]
        if not use.any():
            return
        first_of_run = np.ones(m, dtype=bool)
        first_of_run[1:] = run_of_plain[1:] != run_of_plain[:-1]
        state = _Columns(run_state, run_of_plain)
        scale = state[4]
        squared = np.zeros(m)
        prevs, curs = [], []
        for ax in range(3):
            cur = dense["XYZ"[ax]] * scale + state[5 + ax]
            start = state[ax]
            filled = _ffill(np.where(first_of_run & np.isnan(cur), start, cur))
            prev = np.empty(m)
            prev[1:] = filled[:-1]
            prev = np.where(first_of_run, start, prev)
            prevs.append(prev)
            curs.append(filled)
            delta = filled - prev
            squared += np.where(np.isnan(delta), 0.0, delta * delta)
        distance = np.sqrt(squared)
        arcs = (plain_g >= 2) & use
        if arcs.any():
            distance = self._arcs(base, arcs, plain_lines, plain_g, prevs, curs, dense, scale,
                                  distance, line_text)
        e_cur = dense["E"]
        if not np.isnan(e_cur).all():
            e_abs = state[8] == 1.0
            start = state[9]
            filled = _ffill(np.where(first_of_run & np.isnan(e_cur), start, e_cur))
            prev = np.empty(m)
            prev[1:] = filled[:-1]
            prev = np.where(first_of_run, start, prev)
            e_delta = np.where(e_abs, filled - prev, e_cur)
            e_delta = np.where(np.isnan(e_delta), 0.0, np.abs(e_delta) * scale)
            distance = np.where(distance == 0.0, e_delta, distance)
        feed = dense["F"] * scale
        feed = _ffill(np.where(first_of_run & np.isnan(feed), state[3], feed))
        profile = self.interp.profile
        if profile.rapid_feed_mm_min:
            feed = np.where(plain_g == 0, profile.rapid_feed_mm_min, feed)
        if profile.max_feed_mm_min:
            feed = np.minimum(feed, profile.max_feed_mm_min)
        self.interp.time_s += float(np.sum((distance / feed)[use])) * 60.0

    def _arcs(self, base: int, arcs: np.ndarray, plain_lines: np.ndarray, plain_g: np.ndarray,
              prevs: list[np.ndarray], curs: list[np.ndarray], dense: dict[str, np.ndarray],
              scale: np.ndarray, distance: np.ndarray, line_text) -> np.ndarray:
        """Bounds and lengths of G2/G3 arcs in the XY plane (I/J centres), vectorised."""
        idx = np.flatnonzero(arcs)
        x0, y0 = prevs[0][idx], prevs[1][idx]
        x1, y1 = curs[0][idx], curs[1][idx]
        known = ~(np.isnan(x0) | np.isnan(y0) | np.isnan(x1) | np.isnan(y1))
        if not known.all():
            self.interp.warn_once("arc", f"line {base + int(plain_lines[idx[~known][0]]) + 1}: arc "
                                  "from an unknown position; not checked")
            idx, x0, y0, x1, y1 = idx[known], x0[known], y0[known], x1[known], y1[known]
        s = scale[idx]
        cx = x0 + np.nan_to_num(dense["I"][idx]) * s
        cy = y0 + np.nan_to_num(dense["J"][idx]) * s
        clockwise = plain_g[idx] == 2
        radius = np.hypot(x0 - cx, y0 - cy)
        a0 = np.arctan2(y0 - cy, x0 - cx)
        a1 = np.arctan2(y1 - cy, x1 - cx)
        sweep = a1 - a0
        sweep = np.where(clockwise & (sweep >= -1e-12), sweep - 2 * np.pi, sweep)
        sweep = np.where(~clockwise & (sweep <= 1e-12), sweep + 2 * np.pi, sweep)
        lo = np.where(sweep < 0, a0 + sweep, a0)
        hi = np.where(sweep < 0, a0, a0 + sweep)
        bounds = [np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1)]
        quarter = np.pi / 2
        k = np.ceil(lo / quarter)
        for step in range(5):  # a sweep below 2 pi passes at most 4 (+1 at the edge) quarters
            angle = (k + step) * quarter
            inside = angle <= hi
            quadrant = np.mod(k + step, 4)
            for q, (which, extreme, sign) in enumerate(((2, cx, 1), (3, cy, 1), (0, cx, -1), (1, cy, -1))):
                hit = inside & (quadrant == q)
                if hit.any():
                    value = extreme + sign * radius
                    pick = np.maximum if sign > 0 else np.minimum
                    bounds[which] = np.where(hit, pick(bounds[which], value), bounds[which])
        interp = self.interp
        for ax, (low, high) in enumerate(((bounds[0], bounds[2]), (bounds[1], bounds[3]))):
            if len(low):
                interp.bmin[ax] = min(interp.bmin[ax], float(low.min()))
                interp.bmax[ax] = max(interp.bmax[ax], float(high.max()))
            for which, values in ((0, low), (1, high)):
                bad = np.flatnonzero(values < interp.lo[ax]) if which == 0 else \
                    np.flatnonzero(values > interp.hi[ax])
                for j in bad.tolist():
                    line = int(plain_lines[idx[j]])
                    interp.out_of_bounds(base + line + 1, ax, float(values[j]), line_text(line))
        length = np.abs(sweep) * radius
        dz = curs[2][idx] - prevs[2][idx]
        length = np.hypot(length, np.where(np.isnan(dz), 0.0, dz))
        distance = distance.copy()
        distance[idx] = length
        return distance


class _Columns:
    """Per-line view of per-run state: `cols[k]` gathers column k for each plain line."""

    def __init__(self, table: np.ndarray, rows: np.ndarray) -> None:
        self._table = np.ascontiguousarray(table.T)
        self._rows = rows
        self._cache: dict[int, np.ndarray] = {}

    def __getitem__(self, k: int) -> np.ndarray:
        if k not in self._cache:
            self._cache[k] = self._table[k][self._rows]
        return self._cache[k]


def _ffill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs with the last value before them (leading NaNs stay)."""
    idx = np.where(np.isnan(values), 0, np.arange(len(values)))
    np.maximum.accumulate(idx, out=idx)
    return values[idx]
