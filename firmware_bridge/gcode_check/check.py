"""Check a G-code program against a machine profile before anything is sent to the machine.

`check_file()` is what the node and `cofab gcode check` call. It reads the file in chunks
(memory stays flat for files of hundreds of MB) and refuses it with the exact line and
reason of every problem: moves outside the work volume, heaters above their limits,
forbidden commands, malformed lines.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from firmware_bridge.gcode_check import fast as fast_path
from firmware_bridge.gcode_check.fast import scan
from firmware_bridge.gcode_check.interpreter import Interpreter
from firmware_bridge.gcode_check.profile import MachineProfile
from firmware_bridge.gcode_check.report import CheckReport


class GcodeUnreadable(OSError):
    """The file could not be read at all (missing, a directory, no permission)."""


def check_file(path: Path | str, profile: MachineProfile, *, fast: bool = True) -> CheckReport:
    """Check the program in `path` for `profile`; never raises for bad G-code, only for I/O.

    `fast=False` interprets every line in Python: the reference the fast path is tested
    against, and about 90x slower (2 MB/s).
    """
    path = Path(path)
    fast = _fast_available(fast)
    started = time.perf_counter()
    report = CheckReport(machine=profile.name, dialect=profile.dialect, fast_path=fast)
    interp = Interpreter(profile, report)
    try:
        with path.open("rb") as stream:
            if fast:
                report.lines, report.bytes = scan(stream, interp)
            else:
                report.lines, report.bytes = _scan_slowly(stream, interp)
    except IsADirectoryError:
        raise GcodeUnreadable(f"{path} is a directory, not a G-code file") from None
    except FileNotFoundError:
        raise GcodeUnreadable(f"{path} does not exist") from None
    except OSError as exc:
        raise GcodeUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None
    _finish(report, interp, profile)
    if report.violations:
        _original_text(path, report)
    report.seconds = time.perf_counter() - started
    return report


def check_text(text: str, profile: MachineProfile, *, fast: bool = True) -> CheckReport:
    """Check a program given as a string (tests, small generated programs)."""
    import io

    fast = _fast_available(fast)
    report = CheckReport(machine=profile.name, dialect=profile.dialect, fast_path=fast)
    interp = Interpreter(profile, report)
    stream = io.BytesIO(text.encode("utf-8"))
    report.lines, report.bytes = scan(stream, interp) if fast else _scan_slowly(stream, interp)
    _finish(report, interp, profile)
    if report.violations:
        lines = text.split("\n")
        _set_texts(report, lambda n: lines[n - 1] if n <= len(lines) else "")
    return report


def _fast_available(wanted: bool) -> bool:
    """The fast path needs the compiled lexer; without it, every line is interpreted (the
    same report, about 90x slower) rather than no check at all."""
    if wanted and not fast_path.AVAILABLE:
        logging.getLogger(__name__).warning("G-code lexer not built (pip install -e .); checking line by line")
        return False
    return wanted


def _scan_slowly(stream, interp: Interpreter) -> tuple[int, int]:
    lines = total = 0
    for lines, raw in enumerate(stream, 1):
        total += len(raw)
        interp.feed_line(lines, raw.rstrip(b"\r\n").decode("latin-1"))
    return lines, total


def _finish(report: CheckReport, interp: Interpreter, profile: MachineProfile) -> None:
    report.bounds_min_mm = [v if math.isfinite(v) else math.nan for v in interp.bmin]
    report.bounds_max_mm = [v if math.isfinite(v) else math.nan for v in interp.bmax]
    report.max_temperatures_c = dict(interp.temps)
    report.max_s = interp.max_s
    report.time_s = interp.time_s
    report.filament_mm = max(0.0, interp.filament_mm)
    area_mm2 = math.pi * (profile.filament_diameter_mm / 2) ** 2
    report.filament_g = report.filament_mm * area_mm2 * profile.filament_density_g_cm3 / 1000.0
    report.violations.sort(key=lambda v: v.line)


def _original_text(path: Path, report: CheckReport) -> None:
    """Show each violation with its line as written (the fast path saw it without comments)."""
    wanted = {v.line for v in report.violations}
    found: dict[int, str] = {}
    last = max(wanted)
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            if number in wanted:
                found[number] = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if number >= last:
                break
    _set_texts(report, lambda n: found.get(n, ""))


def _set_texts(report: CheckReport, text_of) -> None:
    from dataclasses import replace

    report.violations = [replace(v, text=text_of(v.line).strip()[:200]) for v in report.violations]
