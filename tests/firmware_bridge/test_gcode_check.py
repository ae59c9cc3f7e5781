"""The G-code safety check: unsafe programs refused with line and reason, real ones accepted.

Every case runs through the fast scanner and the line-by-line interpreter, and both must
give the same report: the interpreter is the reference the fast path is held to.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.gcode_check import write_gcode
from firmware_bridge.gcode_check import (
    MAX_VIOLATIONS,
    GcodeUnreadable,
    ProfileError,
    check_file,
    check_text,
    load_profile,
    profile_from_dict,
)
from tests.corpus import CORPUS as SHARED_CORPUS
from tests.firmware_bridge.support import MACHINES, PROFILES

CASES = Path(__file__).parent / "unsafe_gcode"
CORPUS = SHARED_CORPUS / "gcode"


def profile(name: str):
    return load_profile(MACHINES / PROFILES[name])


def both(path: Path, machine):
    fast = check_file(path, machine)
    slow = check_file(path, machine, fast=False)
    a, b = fast.to_dict(), slow.to_dict()
    a.pop("check_seconds")
    b.pop("check_seconds")
    assert a == b, "fast path and interpreter disagree"
    return fast


@pytest.mark.parametrize("case", sorted(CASES.glob("*.gcode")), ids=lambda p: p.stem)
def test_each_unsafe_case_is_refused_with_its_line_and_reason(case: Path) -> None:
    header = case.read_bytes().split(b"\n", 1)[0].decode()
    # "; expect: <profile> <kind> line <n>: <reason text>"
    _, spec = header.split("expect:", 1)
    machine, kind, _, line, reason = spec.strip().split(" ", 4)
    report = both(case, profile(machine))
    assert report.verdict == "refused"
    matches = [v for v in report.violations if v.line == int(line.rstrip(":"))]
    assert matches, f"no violation on line {line}: {report.violations}"
    assert matches[0].kind == kind
    assert reason.strip() in matches[0].reason
    assert matches[0].text, "the refused line is shown"


@pytest.mark.parametrize(
    "name", ["prusaslicer_plant-sign.gcode", "cura_puzzle_all.gcode", "slic3rpe_duplo_tracks.gcode"]
)
def test_real_sliced_files_within_the_printer_are_accepted(name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"shared corpus not present ({path})")
    report = both(path, profile("marlin"))
    assert report.verdict == "safe", report.violations[:5]
    assert 0 < report.max_temperatures_c["hotend"] <= 260
    assert report.time_s > 60
    assert report.filament_mm > 100


def test_real_files_report_their_bounds_and_estimates() -> None:
    path = CORPUS / "prusaslicer_plant-sign.gcode"
    if not path.exists():
        pytest.skip("shared corpus not present")
    report = check_file(path, profile("marlin")).to_dict()
    # The corpus MANIFEST (a regex scan) gives XY [2..155.356] x [10..187], Z up to 150.
    assert report["bounds_mm"]["min"][:2] == [2.0, 10.0]
    assert report["bounds_mm"]["max"] == [155.356, 187.0, 150.0]
    assert report["max_temperatures_c"] == {"hotend": 210.0, "bed": 60.0}
    # PrusaSlicer says 1645 mm of filament; the check, summing E, agrees within 1 %.
    assert report["estimate"]["filament_mm"] == pytest.approx(1645, rel=0.01)


def test_a_relative_end_move_to_negative_numbers_is_not_out_of_bounds() -> None:
    # Cura's end code: G91 then "G1 Z+0.5 E-5 X-20 Y-20" is 20 mm back, not X = -20.
    path = CORPUS / "cura_puzzle_all.gcode"
    if not path.exists():
        pytest.skip("shared corpus not present")
    assert check_file(path, profile("marlin")).safe


def test_a_mach3_plasma_program_is_refused_by_the_grbl_router() -> None:
    path = CORPUS / "mach3_plasma.gcode"
    if not path.exists():
        pytest.skip("shared corpus not present")
    report = both(path, profile("cnc"))
    assert report.verdict == "refused"
    kinds = {(v.line, v.kind) for v in report.violations}
    assert (15, "unsupported") in kinds  # G31 Z-11.8: Mach3's probe, not GRBL's
    assert any("M900" in v.reason for v in report.violations)
    assert report.warnings and "G53" in report.warnings[0]


def test_generated_bench_program_agrees_between_fast_path_and_interpreter(tmp_path: Path) -> None:
    path = tmp_path / "bench.gcode"
    write_gcode(path, 0.5)
    report = both(path, profile("marlin"))
    assert report.safe
    assert report.max_temperatures_c == {"hotend": 215.0, "bed": 60.0}


def test_estimates_of_a_known_program() -> None:
    program = "\n".join(
        [
            "G21",
            "G90",
            "M83",
            "G28",  # at 0,0,0
            "G1 X60 F600",  # 60 mm at 10 mm/s: 6 s
            "G1 Y80 E10",  # 80 mm: 8 s, 10 mm filament
            "G1 E-2 F1200",
            "G1 E2",  # retract, prime: 2 x 0.1 s
            "G4 P500",  # 0.5 s
            "G2 X60 Y80 I0 J-10 F600",  # full circle r=10: 62.83 mm, 6.283 s
        ]
    )
    machine = profile("marlin")
    for fast in (True, False):
        report = check_text(program, machine, fast=fast)
        assert report.safe
        assert report.time_s == pytest.approx(6 + 8 + 0.2 + 0.5 + 2 * math.pi, rel=1e-6)
        assert report.filament_mm == pytest.approx(10.0)
        area = math.pi * 0.875**2
        assert report.filament_g == pytest.approx(10 * area * 1.24 / 1000)
        assert report.bounds_min_mm[1] == pytest.approx(60.0)  # the circle's bottom


def test_many_violations_are_counted_but_listed_up_to_a_cap() -> None:
    program = "G28\n" + "G1 X500 F100\n" * (MAX_VIOLATIONS + 50)
    report = check_text(program, profile("marlin"))
    assert report.violation_count == MAX_VIOLATIONS + 50
    assert len(report.violations) == MAX_VIOLATIONS
    assert report.violations[0].line == 2


def test_lowercase_and_line_numbers_read_like_upper_case() -> None:
    ok = check_text("g28\nn1 g1 x10 y10 f600*" + str(_checksum("N1 G1 X10 Y10 F600")) + "\n", profile("marlin"))
    assert ok.safe, ok.violations


def _checksum(line: str) -> int:
    value = 0
    for char in line.encode():
        value ^= char
    return value


def test_grbl_reads_are_allowed_and_jogs_warned() -> None:
    report = check_text("$$\n$#\n$G\n$H\n$J=G91 X10 F100\nG0 X1\n", profile("laser"))
    assert report.safe, report.violations
    assert any("$J" in w for w in report.warnings)


def test_forbidden_commands_are_configurable() -> None:
    base = {"dialect": "marlin", "work_volume": {"max_mm": [200, 200, 200]}}
    lifted = profile_from_dict({**base, "commands": {"allowed": ["m500"]}})
    assert check_text("M500\n", lifted).safe
    replaced = profile_from_dict({**base, "commands": {"forbidden": ["M106"]}})
    assert check_text("M500\n", replaced).safe
    refused = check_text("M106 S255\n", replaced)
    assert refused.violations[0].kind == "forbidden"


def test_an_unreadable_file_raises_and_a_bad_profile_says_why(tmp_path: Path) -> None:
    with pytest.raises(GcodeUnreadable, match="does not exist"):
        check_file(tmp_path / "missing.gcode", profile("marlin"))
    with pytest.raises(GcodeUnreadable, match="directory"):
        check_file(tmp_path, profile("marlin"))
    bad = tmp_path / "bad.toml"
    bad.write_text('dialect = "marlin"\n[work_volume]\nmax_mm = [200, 0, 200]\n')
    with pytest.raises(ProfileError, match="must exceed min_mm"):
        load_profile(bad)
    bad.write_text('dialect = "smoothie"\n')
    with pytest.raises(ProfileError, match="dialect must be one of"):
        load_profile(bad)


def test_a_file_without_a_final_newline_and_with_crlf_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "crlf.gcode"
    path.write_bytes(b"G28\r\nG1 X10 F600\r\nG1 X300")
    report = both(path, profile("marlin"))
    assert report.lines == 3
    assert [(v.line, v.kind) for v in report.violations] == [(3, "out_of_bounds")]
    assert report.violations[0].text == "G1 X300"


def _messy_programs() -> dict[str, str]:
    import random

    rng = random.Random(1)
    klipper = ["PRINT_START EXTRUDER=240 BED=100", "G90", "M83", "G28"]
    for layer in range(60):
        klipper.append(f"EXCLUDE_OBJECT_START NAME=part_{layer % 3}")
        klipper.append(f"G1 Z{0.2 + layer * 0.2:.2f} F600")
        klipper += [
            f"G1 X{rng.uniform(10, 300):.3f} Y{rng.uniform(10, 300):.3f} E{rng.uniform(0, 0.1):.4f} ; c"
            for _ in range(30)
        ]
        klipper += [
            "EXCLUDE_OBJECT_END NAME=part",
            "SET_HEATER_TEMPERATURE HEATER=extruder TARGET=245",
            "G2 X150 Y150 R20" if layer % 7 == 0 else "G3 X100 Y100 I5 J5",
            "M117 Layer done",
        ]
    klipper += ["G91", "G1 Z5", "G90"]
    grbl = ["G21 G90", "M3 S10000", "G0 X10 Y10", "G1 Z-2 F200"]
    for i in range(1500):
        grbl.append(
            f"X{rng.uniform(0, 500):.3f} Y{rng.uniform(0, 390):.3f}" if i % 3 else f"G1 X-{rng.uniform(0, 3):.3f} F800"
        )
        if i % 50 == 0:
            grbl.append("G2 X100 Y100 I10 J0 (arc)")
        if i % 97 == 0:
            grbl.append("G38.2 Z-10 F50")
        if i % 11 == 0:
            grbl.append("$110=500")
    return {"klipper": "\n".join(klipper), "cnc": "\n".join(grbl)}


@pytest.mark.parametrize("machine", ["klipper", "cnc"])
def test_fast_path_and_interpreter_agree_on_messy_programs(machine: str) -> None:
    """Macros, text messages, modal lines, negative leading numbers, R arcs, probing,
    setting writes, relative moves: the lines the fast path hands over or falls back on."""
    text = _messy_programs()[machine]
    fast = check_text(text, profile(machine)).to_dict()
    slow = check_text(text, profile(machine), fast=False).to_dict()
    fast.pop("check_seconds")
    slow.pop("check_seconds")
    assert fast == slow
    assert fast["violation_count"] > 0
