"""The exact, line-by-line meaning of a program: where the tool goes, what it heats, what it
must not do. This is the reference: the fast scanner hands it every line that is not a
plain move, and tests check that both agree.

Positions are kept in machine millimetres (after units and G92 offsets) and checked against
the profile's work volume at every target a move names, and at the extremes of arcs.
"""

from __future__ import annotations

import math

from firmware_bridge.gcode_check.arcs import arc_bounds, arc_center_from_radius
from firmware_bridge.gcode_check.lines import (
    BARE_AXIS_COMMANDS,
    Line,
    Malformed,
    parse_line,
)
from firmware_bridge.gcode_check.profile import MachineProfile
from firmware_bridge.gcode_check.report import CheckReport, Violation

AXES = "XYZ"
_TOLERANCE_MM = 1e-3
_INCH = 25.4
_PARSED_KEPT = 4096

GRBL_G = frozenset(
    {
        0,
        1,
        2,
        3,
        4,
        10,
        17,
        18,
        19,
        20,
        21,
        28,
        28.1,
        30,
        30.1,
        38.2,
        38.3,
        38.4,
        38.5,
        40,
        43.1,
        49,
        53,
        54,
        55,
        56,
        57,
        58,
        59,
        61,
        80,
        90,
        91,
        91.1,
        92,
        92.1,
        93,
        94,
    }
)
GRBL_M = frozenset({0, 1, 2, 3, 4, 5, 7, 8, 9, 30, 56})
_GRBL_WORDS = frozenset("GMXYZFSPIJKLNRT")
"""What GRBL 1.1 accepts; anything else it answers with error:20 (unsupported command)."""

_HOTEND_M = frozenset({104, 109})
_BED_M = frozenset({140, 190})
_CHAMBER_M = frozenset({141, 191})
_MACRO_TEMPS = {
    "EXTRUDER": "hotend",
    "EXTRUDER_TEMP": "hotend",
    "HOTEND": "hotend",
    "HOTEND_TEMP": "hotend",
    "NOZZLE": "hotend",
    "NOZZLE_TEMP": "hotend",
    "BED": "bed",
    "BED_TEMP": "bed",
    "CHAMBER": "chamber",
    "CHAMBER_TEMP": "chamber",
}
"""Parameters of start macros (PRINT_START EXTRUDER=250 BED=110) that set temperatures."""


class Interpreter:
    """Feeds lines one by one into the machine state and the report.

    The state is public so the fast scanner can apply whole runs of moves at once.
    """

    def __init__(self, profile: MachineProfile, report: CheckReport) -> None:
        self.profile = profile
        self.report = report
        self.dialect = profile.dialect
        self.lo = [v - _TOLERANCE_MM for v in profile.min_mm]
        self.hi = [v + _TOLERANCE_MM for v in profile.max_mm]
        self.pos = [math.nan, math.nan, math.nan]
        """Machine position in mm; NaN until a move or homing makes it known."""
        self.absolute = True
        self.e_absolute = True
        self.scale = 1.0
        self.offset = [0.0, 0.0, 0.0]
        self.e = 0.0
        """The extruder position in program units, as the program sees it."""
        self.feed = profile.default_feed_mm_min
        self.motion: int | None = None
        self.plane = 17
        self.bmin = [math.inf] * 3
        self.bmax = [-math.inf] * 3
        self.time_s = 0.0
        self.filament_mm = 0.0
        self.temps: dict[str, float] = {}
        self.max_s: float | None = None
        self._warned: set[str] = set()
        self._parsed: dict[str, Line] = {}
        """Parsed lines by text: sliced files repeat the same few (`G92 E0`, `M73 P..`)."""
        self._limits = {
            "hotend": profile.hotend_max_c,
            "bed": profile.bed_max_c,
            "chamber": profile.chamber_max_c,
        }

    # --- reporting --------------------------------------------------------------------

    def violation(self, line: int, kind: str, reason: str, text: str = "") -> None:
        self.report.add(Violation(line, kind, reason, text.strip()[:200]))

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.report.warnings.append(message)

    def out_of_bounds(self, line: int, axis: int, value: float, text: str) -> None:
        self.report.add(self.bounds_violation(line, axis, value, text))

    def bounds_violation(self, line: int, axis: int, value: float, text: str) -> Violation:
        """The violation of a move to `value` on `axis` (the fast path builds its own with
        this too, then adds them in line order)."""
        lo, hi = self.profile.min_mm[axis], self.profile.max_mm[axis]
        reason = f"{AXES[axis]} {value:.3f} mm is outside the work volume ({lo:g} to {hi:g} mm)"
        return Violation(line, "out_of_bounds", reason, text.strip()[:200])

    # --- lines ------------------------------------------------------------------------

    def feed_line(self, number: int, raw: str) -> None:
        """Interpret line `number` (1-based) with text `raw` (no newline)."""
        try:
            line = self._parsed.get(raw)
            if line is None:
                line = parse_line(raw, self.dialect)
                if len(self._parsed) >= _PARSED_KEPT:
                    self._parsed.clear()
                self._parsed[raw] = line
            if line.empty:
                return
            if line.extended is not None:
                self._extended(number, line, raw)
            elif line.system is not None:
                self._system(number, line.system, raw)
            elif line.host is None:
                self._words(number, line, raw)
        except Malformed as exc:
            self.violation(number, "malformed", str(exc), raw)

    def _words(self, n: int, line: Line, raw: str) -> None:
        params: dict[str, float | None] = {}
        gcodes: list[float] = []
        mcodes: list[float] = []
        for letter, value in line.words:
            if self.dialect == "grbl" and letter not in _GRBL_WORDS:
                self.violation(n, "unsupported", f"GRBL has no {letter} word (error:20)", raw)
                return
            if letter == "G":
                gcodes.append(_required(letter, value))
            elif letter == "M":
                mcodes.append(_required(letter, value))
            elif letter == "T":
                _required(letter, value)
            elif letter in params and line.text is None:
                raise Malformed(f"{letter} appears twice on one line")
            else:
                params[letter] = value
        if line.text is not None:
            params = {}
        if not gcodes and not mcodes:
            if any(letter == "T" for letter, _ in line.words):
                return
            if self.dialect != "grbl":
                raise Malformed("no command (G, M or T) on this line")
        bare = [k for k, v in params.items() if v is None]
        if bare:
            codes = gcodes or mcodes  # none on a GRBL modal line (`X Y`)
            command = f"{'G' if gcodes else 'M'}{codes[0]:g}" if codes else ""
            if command not in BARE_AXIS_COMMANDS or any(k not in "XYZEABC" for k in bare):
                raise Malformed(f"{bare[0]} has no value")
        for code in mcodes:
            self._mcode(n, code, params, raw)
        motion: float | None = None
        for code in gcodes:
            if code in (0, 1, 2, 3) or code in (38.2, 38.3, 38.4, 38.5):
                motion = code
            else:
                self._gcode(n, code, params, raw)
        if self.dialect == "grbl":
            s = params.get("S")
            if s is not None and not mcodes:
                self._spindle(n, s, raw)
            f = params.get("F")
            if f is not None and motion is None and not gcodes:
                self.feed = self._feed(f)
        if motion is None and not gcodes and self.dialect == "grbl" and any(a in params for a in AXES):
            if self.motion is None:
                raise Malformed("axis words with no motion mode set (G0, G1, G2 or G3)")
            motion = self.motion
        if motion is not None:
            self._motion(n, motion, params, raw)

    # --- commands ---------------------------------------------------------------------

    def _forbidden(self, n: int, key: str, raw: str) -> bool:
        reason = self.profile.forbidden.get(key)
        if reason is None:
            return False
        self.violation(n, "forbidden", f"{key} is forbidden on {self.profile.name}: {reason}", raw)
        return True

    def _mcode(self, n: int, code: float, params: dict[str, float | None], raw: str) -> None:
        key = f"M{code:g}"
        if self._forbidden(n, key, raw):
            return
        if self.dialect == "grbl":
            if code not in GRBL_M:
                self.violation(n, "unsupported", f"GRBL does not support {key} (error:20)", raw)
                return
            if code in (3, 4) and params.get("S") is not None:
                self._spindle(n, params["S"], raw)  # type: ignore[arg-type]
            return
        if code in _HOTEND_M or code in _BED_M or code in _CHAMBER_M:
            heater = "hotend" if code in _HOTEND_M else "bed" if code in _BED_M else "chamber"
            for letter in ("S", "R"):
                value = params.get(letter)
                if value is not None:
                    self._temperature(n, heater, value, raw)
        elif code == 82:
            self.e_absolute = True
        elif code == 83:
            self.e_absolute = False

    def _gcode(self, n: int, code: float, params: dict[str, float | None], raw: str) -> None:
        key = f"G{code:g}"
        if self._forbidden(n, key, raw):
            return
        if self.dialect == "grbl" and code not in GRBL_G:
            self.violation(n, "unsupported", f"GRBL does not support {key} (error:20)", raw)
            return
        if code == 90:
            self.absolute = self.e_absolute = True
        elif code == 91:
            self.absolute = self.e_absolute = False
        elif code == 20:
            self.scale = _INCH
        elif code == 21:
            self.scale = 1.0
        elif code in (17, 18, 19):
            self.plane = int(code)
        elif code == 92:
            self._set_position(params)
        elif code == 92.1:
            self.offset = [0.0, 0.0, 0.0]
        elif code == 28 or code == 30:
            self._home(params)
        elif code == 4:
            self._dwell(params)
        elif code == 53:
            self.warn_once(
                "G53",
                f"line {n}: G53 moves in machine coordinates; those moves are not checked against the work volume",
            )
            params.clear()
        elif 54 <= code <= 59:
            self.warn_once(
                "G54",
                f"line {n}: {key} selects a work coordinate system; limits are checked in the program's coordinates",
            )

    def _temperature(self, n: int, heater: str, value: float, raw: str) -> None:
        if value > self.temps.get(heater, -math.inf):
            self.temps[heater] = value
        limit = self._limits[heater]
        if limit is not None and value > limit:
            self.violation(
                n,
                "temperature",
                f"{heater} temperature {value:g} °C is above {self.profile.name}'s limit of {limit:g} °C",
                raw,
            )

    def _spindle(self, n: int, value: float, raw: str) -> None:
        if self.max_s is None or value > self.max_s:
            self.max_s = value
        limit = self.profile.max_s
        if limit is not None and value > limit:
            self.report.add(self.power_violation(n, value, raw))

    def power_violation(self, line: int, value: float, text: str) -> Violation:
        """The violation of an S word above the machine's maximum (laser power, spindle)."""
        reason = f"S{value:g} is above the machine's maximum S{self.profile.max_s:g}"
        return Violation(line, "power", reason, text.strip()[:200])

    def _extended(self, n: int, line: Line, raw: str) -> None:
        name = line.extended or ""
        if self._forbidden(n, name, raw):
            return
        if name == "SET_HEATER_TEMPERATURE":
            heater = line.params.get("HEATER", "").lower()
            target = _float(line.params.get("TARGET"))
            if target is None:
                return
            kind = "bed" if "bed" in heater else "chamber" if "chamber" in heater else "hotend"
            self._temperature(n, kind, target, raw)
            return
        for key, heater in _MACRO_TEMPS.items():
            value = _float(line.params.get(key))
            if value is not None:
                self._temperature(n, heater, value, raw)

    def _system(self, n: int, command: str, raw: str) -> None:
        """GRBL `$` commands: reading is harmless; writing settings is forbidden by default."""
        body = command[1:]
        if body.startswith("N") and "=" in body:
            key = "$N"
        elif body.startswith("RST"):
            key = "$RST"
        elif body.startswith("I="):
            key = "$I="
        elif body[:1].isdigit() and "=" in body:
            key = "$="
        elif body.startswith("J="):
            self.warn_once("$J", f"line {n}: jog commands ($J=) are not checked against the work volume")
            return
        else:
            key = "$" + body
        self._forbidden(n, key, raw)

    # --- motion -----------------------------------------------------------------------

    def _feed(self, value: float | None) -> float:
        feed = _required("F", value) * self.scale
        if feed <= 0:
            raise Malformed(f"feed rate F{value:g} must be positive")
        return feed

    def _target(self, axis: int, value: float) -> float:
        if self.absolute:
            return value * self.scale + self.offset[axis]
        return self.pos[axis] + value * self.scale

    def _motion(self, n: int, code: float, params: dict[str, float | None], raw: str) -> None:
        if "F" in params:
            self.feed = self._feed(params["F"])
        if self.dialect == "grbl" and "S" in params:
            pass  # already checked in _words
        if code >= 38:
            self.warn_once("G38", f"line {n}: probing moves stop at contact; only their limit is checked")
        else:
            self.motion = int(code)
        old = list(self.pos)
        new = list(old)
        for i, axis in enumerate(AXES):
            value = params.get(axis)
            if value is None:
                continue
            target = self._target(i, value)
            if math.isnan(target):
                self.warn_once(f"rel{i}", f"line {n}: relative {axis} move before the position is known; not checked")
                continue
            new[i] = target
        if code in (2, 3):
            self._arc(n, code == 2, old, new, params, raw)
        else:
            for i, axis in enumerate(AXES):
                if axis in params and not math.isnan(new[i]):
                    self._visit(n, i, new[i], raw)
            self._account(old, new, params, rapid=code == 0)
        self.pos = new

    def _visit(self, n: int, axis: int, value: float, raw: str) -> None:
        if value < self.bmin[axis]:
            self.bmin[axis] = value
        if value > self.bmax[axis]:
            self.bmax[axis] = value
        if value < self.lo[axis] or value > self.hi[axis]:
            self.out_of_bounds(n, axis, value, raw)

    def _account(
        self,
        old: list[float],
        new: list[float],
        params: dict[str, float | None],
        *,
        rapid: bool,
        length: float | None = None,
    ) -> None:
        """Add the move's time and extrusion to the estimates."""
        distance = 0.0
        if length is not None:
            distance = length
        else:
            for a, b in zip(old, new, strict=True):
                if not (math.isnan(a) or math.isnan(b)):
                    step = b - a
                    distance += step * step  # inf for absurd numbers; `**` would raise
            distance = math.sqrt(distance)
        e = params.get("E")
        if e is not None:
            delta = (e - self.e) if self.e_absolute else e
            self.e = e if self.e_absolute else self.e + e
            delta *= self.scale
            self.filament_mm += delta
            if distance == 0.0:
                distance = abs(delta)
        feed = self.feed
        if rapid and self.profile.rapid_feed_mm_min:
            feed = self.profile.rapid_feed_mm_min
        if self.profile.max_feed_mm_min:
            feed = min(feed, self.profile.max_feed_mm_min)
        self.time_s += distance / feed * 60.0

    def _arc(
        self,
        n: int,
        clockwise: bool,
        old: list[float],
        new: list[float],
        params: dict[str, float | None],
        raw: str,
    ) -> None:
        a, b, c = {17: (0, 1, 2), 18: (2, 0, 1), 19: (1, 2, 0)}[self.plane]
        offsets = {17: ("I", "J"), 18: ("K", "I"), 19: ("J", "K")}[self.plane]
        if math.isnan(old[a]) or math.isnan(old[b]) or math.isnan(new[a]) or math.isnan(new[b]):
            self.warn_once("arc", f"line {n}: arc from an unknown position; not checked")
            self._account(old, new, params, rapid=False)
            return
        r = params.get("R")
        if r is not None:
            center = arc_center_from_radius(old[a], old[b], new[a], new[b], r * self.scale, clockwise)
            if center is None:
                raise Malformed(f"arc radius R{r:g} cannot reach the end point")
        else:
            i, j = params.get(offsets[0]), params.get(offsets[1])
            if i is None and j is None:
                raise Malformed("arc without a centre (I/J/K) or a radius (R)")
            center = (old[a] + (i or 0.0) * self.scale, old[b] + (j or 0.0) * self.scale)
        lo_a, lo_b, hi_a, hi_b, length = arc_bounds(old[a], old[b], new[a], new[b], *center, clockwise)
        for axis, value in ((a, lo_a), (a, hi_a), (b, lo_b), (b, hi_b)):
            self._visit(n, axis, value, raw)
        if AXES[c] in params and not math.isnan(new[c]):
            self._visit(n, c, new[c], raw)
        helix = 0.0 if math.isnan(old[c]) or math.isnan(new[c]) else new[c] - old[c]
        self._account(old, new, params, rapid=False, length=math.hypot(length, helix))

    def _set_position(self, params: dict[str, float | None]) -> None:
        given = {k: v for k, v in params.items() if k in "XYZE" and v is not None}
        if not params:
            given = {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}
        for i, axis in enumerate(AXES):
            value = given.get(axis)
            if value is None:
                continue
            if math.isnan(self.pos[i]):
                self.pos[i] = value * self.scale
                self.offset[i] = 0.0
            else:
                self.offset[i] = self.pos[i] - value * self.scale
        if "E" in given:
            self.e = given["E"]

    def _home(self, params: dict[str, float | None]) -> None:
        axes = [i for i, a in enumerate(AXES) if a in params] or [0, 1, 2]
        for i in axes:
            self.pos[i] = self.profile.home_mm[i]
            self.offset[i] = 0.0

    def _dwell(self, params: dict[str, float | None]) -> None:
        p, s = params.get("P"), params.get("S")
        if self.dialect == "grbl":
            self.time_s += p or 0.0
        else:
            self.time_s += (p or 0.0) / 1000.0 + (s or 0.0)


def _required(letter: str, value: float | None) -> float:
    if value is None:
        raise Malformed(f"{letter} has no value")
    return value


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
