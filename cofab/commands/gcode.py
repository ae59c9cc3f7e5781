"""`cofab gcode check FILE --machine MACHINE.toml [--json]`: the safety check a node runs
before anything is sent to a machine, from the command line.

Exit codes: 0 the file is safe for that machine, 1 it is refused, 2 the file (or the
machine profile) cannot be read. With --json the whole report is one JSON object on the
last line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    gcode = sub.add_parser("gcode", help="G-code tools").add_subparsers(dest="gcode_command", required=True)
    check = gcode.add_parser("check", help="check a G-code file against a machine profile")
    check.add_argument("file", help="the G-code program")
    check.add_argument("--machine", required=True, help="machine profile TOML (see examples/machines/)")
    check.add_argument("--json", action="store_true", help="print the report as JSON on the last line")
    check.add_argument("--slow", action="store_true", help="interpret line by line (the reference path)")
    check.add_argument("--max-listed", type=int, default=20, help="violations to list in the text output")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from firmware_bridge.gcode_check import GcodeUnreadable, ProfileError, check_file, load_profile

    try:
        profile = load_profile(Path(args.machine))
        report = check_file(Path(args.file), profile, fast=not args.slow)
    except (ProfileError, GcodeUnreadable) as exc:
        if args.json:
            print(json.dumps({"verdict": "unreadable", "error": str(exc)}))
        else:
            print(f"cofab gcode check: {exc}", file=sys.stderr)
        return 2
    data = report.to_dict()
    if not args.json or sys.stdout.isatty():
        _print_text(data, args.max_listed)
    if args.json:
        print(json.dumps(data))
    return 0 if report.safe else 1


def _print_text(data: dict, max_listed: int) -> None:
    def axes(values: list) -> str:
        return " ".join(f"{a}{'?' if v is None else f'{v:g}'}" for a, v in zip("XYZ", values, strict=True))

    verdict = data["verdict"].upper()
    print(f"{verdict}: {data['lines']} lines for {data['machine']} ({data['dialect']})")
    for v in data["violations"][:max_listed]:
        print(f"  line {v['line']}: {v['kind']}: {v['reason']}  | {v['text']}")
    hidden = data["violation_count"] - min(max_listed, len(data["violations"]))
    if hidden > 0:
        print(f"  ... and {hidden} more violation(s)")
    for warning in data["warnings"]:
        print(f"  warning: {warning}")
    bounds = data["bounds_mm"]
    print(f"  motion bounds: min {axes(bounds['min'])}  max {axes(bounds['max'])} mm")
    temps = ", ".join(f"{k} {v:g} °C" for k, v in data["max_temperatures_c"].items()) or "none set"
    print(f"  max temperatures: {temps}")
    if data["max_s"] is not None:
        print(f"  max S (laser power / spindle): {data['max_s']:g}")
    est = data["estimate"]
    hours, rest = divmod(math.ceil(est["time_s"]), 3600)
    print(
        f"  estimate: {hours}h{rest // 60:02d}m{rest % 60:02d}s, filament {est['filament_mm']:g} mm "
        f"({est['filament_g']:g} g); feed-rate based, acceleration ignored"
    )
