"""`cofab gcode check` run as a real subprocess: verdict, JSON on the last line, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MARLIN = ROOT / "examples" / "machines" / "marlin-fdm.toml"
LASER = ROOT / "examples" / "machines" / "grbl-laser.toml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cofab.cli", "gcode", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_a_safe_file_exits_0_with_bounds_temperatures_and_estimates(tmp_path: Path) -> None:
    gcode = tmp_path / "ok.gcode"
    gcode.write_text("G28\nM104 S200\nM140 S60\nG1 X50 Y40 Z0.2 F3000\nG1 X60 E2\n")
    result = run(str(gcode), "--machine", str(MARLIN), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["verdict"] == "safe"
    assert report["violations"] == []
    assert report["bounds_mm"] == {"min": [50.0, 40.0, 0.2], "max": [60.0, 40.0, 0.2]}
    assert report["max_temperatures_c"] == {"hotend": 200.0, "bed": 60.0}
    assert report["estimate"]["filament_mm"] == 2.0
    assert "acceleration" in report["estimate"]["method"]


def test_a_refused_file_exits_1_and_lists_each_violation(tmp_path: Path) -> None:
    gcode = tmp_path / "bad.gcode"
    gcode.write_text("G28\nM104 S300\nM500\nG1 X999 F100\nG1 X1..2\n")
    result = run(str(gcode), "--machine", str(MARLIN), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["verdict"] == "refused"
    assert [(v["line"], v["kind"]) for v in report["violations"]] == [
        (2, "temperature"),
        (3, "forbidden"),
        (4, "out_of_bounds"),
        (5, "malformed"),
    ]
    assert "EEPROM" in report["violations"][1]["reason"]
    assert report["violations"][2]["text"] == "G1 X999 F100"


def test_text_output_names_the_line_and_reason(tmp_path: Path) -> None:
    gcode = tmp_path / "laser.gcode"
    gcode.write_text("G21 G90\n$110=9000\nM4 S500\nG1 X10 Y10 F600\nM5\n")
    result = run(str(gcode), "--machine", str(LASER))
    assert result.returncode == 1
    assert "REFUSED" in result.stdout
    assert "line 2: forbidden: $= is forbidden" in result.stdout
    assert "max S (laser power / spindle): 500" in result.stdout


def test_an_unreadable_file_or_profile_exits_2(tmp_path: Path) -> None:
    result = run(str(tmp_path / "missing.gcode"), "--machine", str(MARLIN), "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout.strip().splitlines()[-1])["verdict"] == "unreadable"
    gcode = tmp_path / "ok.gcode"
    gcode.write_text("G28\n")
    result = run(str(gcode), "--machine", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
