"""The fast path (C lexer + arrays) against the line-by-line interpreter, the reference.

Both must give the same report (violations with line, kind and reason; bounds; maximum
temperatures; estimates as reported) on generated programs full of the lines the lexer
must either read exactly or hand over, on small chunks (so chunk edges fall everywhere),
and on every file of the test corpus (docs/corpus.md).
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from firmware_bridge.gcode_check import check_file, check_text, load_profile
from firmware_bridge.gcode_check import fast as fast_path
from tests.corpus import CORPUS as SHARED_CORPUS
from tests.firmware_bridge.support import MACHINES, PROFILES

CORPUS = SHARED_CORPUS / "gcode"


def test_the_c_lexer_is_built() -> None:
    """setup.py marks the extension optional so an install never fails for want of a compiler,
    which would also let a broken build pass unnoticed at 1/90 of the speed; scripts/setup.sh
    installs gcc and the headers, so in this project's test run the lexer must be there."""
    assert fast_path.AVAILABLE, "firmware_bridge.gcode_check._lexer did not build: run `bash scripts/setup.sh`"


def _number(rng: random.Random, low: float, high: float) -> str:
    """A number in one of the spellings G-code files use, and some they should not."""
    value = rng.uniform(low, high)
    form = rng.randrange(12)
    if form == 0:
        return f"{value:.0f}."
    if form == 1:
        return f"{value:+.2f}"
    if form == 2:
        text = f"{value:.3f}"
        return text.replace("0.", ".", 1) if text.startswith("0.") else text.replace("-0.", "-.", 1)
    if form == 3:
        return f"{value:.17f}"  # beyond 15 significant digits: the slow conversion
    if form == 4:
        return f"{value:.25f}"  # beyond 22 decimals
    if form == 5:
        return f"{int(value)}"
    if form == 6:
        return "-0" if rng.random() < 0.5 else "0.000"
    return f"{value:.3f}"


def _move(rng: random.Random, grbl: bool) -> str:
    letters = ["X", "Y", "Z", "F", "S"] if grbl else ["X", "Y", "Z", "E", "F"]
    rng.shuffle(letters)
    words = []
    for letter in letters[: rng.randint(0, len(letters))]:
        if letter == "F":
            words.append("F" + _number(rng, 100, 20000))
        elif letter == "S":
            words.append("S" + _number(rng, 0, 30000))
        elif letter == "E":
            words.append("E" + _number(rng, -1, 2))
        elif letter == "Z":
            words.append("Z" + _number(rng, -2, 30))
        else:
            words.append(letter + _number(rng, -10, 320))
    code = rng.choice(["G1", "G1", "G1", "G0", "G01", "G00"])
    if grbl and rng.random() < 0.4:
        code = ""  # GRBL's modal motion: the mode in force
    sep = rng.choice([" ", " ", " ", "", "\t", "  "])
    return sep.join([code, *words]) if code else sep.join(words)


def _odd(rng: random.Random, grbl: bool) -> str:
    """Lines the lexer must not take as plain moves (or must read exactly as the
    interpreter does)."""
    return rng.choice(
        [
            "g1 x10 y10",
            "G1 X10 X20",
            "G1 F0 X1",
            "G1 F-5",
            "G1 X1.2.3",
            "G1 X",
            "G1 X 5",
            "G1 X5\rY5",
            "G1 X5 (note) Y5",
            "G1 X5 ( never closed",
            "N10 G1 X5",
            "G1 X5 *12",
            "G1 X1-2",
            "G1.0 X5",
            "G1 X5 S100",
            "G1 X5 E1 G90",
            "M73 P50 R10",
            "M73 P",
            "M117 Hello X",
            "M204 S800 S900",
            "M106 S255",
            "M107",
            "M104 S300",
            "M140 S120",
            "M600",
            "M500",
            "G92 E0",
            "G92 X10 Y10",
            "G92",
            "G28",
            "G28 X Y",
            "G20",
            "G21",
            "G90",
            "G91",
            "G91\nG1 X5 Y-5\nG90",
            "M82",
            "M83",
            "G2 X50 Y50 I10 J0",
            "G3 X60 Y40 J-10",
            "G2 X10 Y10 R5",
            "G2 X1 Y1",
            "G18\nG2 X10 Z5 I5 K0\nG17",
            "G4 P200",
            "G4 S1",
            "G1 X999 Y-5",
            "G0 Z-9",
            "   ",
            "",
            "; only a comment",
            "\t; indented comment",
            "G1 X5 ; comment (with paren",
            "G1 X5;c",
            "G1 X5 \r",
            "\r",
            "G1 X5\x85",
            "G1 X\xe95",
            "T1",
            "M5",
            "M3 S20000",
            "M9",
            "X10 Y10",
            "$110=500",
            "$H",
            "G53 G0 Z0",
            "G54",
            "G38.2 Z-10 F50",
            "M0",
            "M30",
            "G10 L20 P1 X0",
            "SET_HEATER_TEMPERATURE HEATER=extruder TARGET=300",
            "PRINT_START EXTRUDER=240 BED=60",
            "G1 X10 Y10 E1 F1200 " + "0" * 3,
            "G1 X1." + "1" * 40,
            "G1 X1" + "0" * 200,
            "G0",
            "G1",
            "G1 Y5 I3",
            "G3 X100 Y100 I5 J5 E.5 F900",
            "G2 X10 Y10 I-300 J0",
            "X Y",
            "G1 X1E5",
            "G2 X50 Y50 I10 J0\nX60 Y40 I5 J5\nX70 Y30",
            "G3 X1 Y1 J3\nX2 Y2 I1",
            "X5 Y5 I1 J1",
            "G0 X1\nX5 Y5",
            "F300",
            "X10 F0",
            "G80\nX1 Y1",
            "G18\nG2 X1 Z1 I1 K1\nX2 Z2 I1 K1\nG17",
        ]
    )


def _program(seed: int, grbl: bool, lines: int = 3000) -> str:
    rng = random.Random(seed)
    out = ["M104 S200", "G28", "G90", "M83" if not grbl else "G21"]
    if rng.random() < 0.3:  # sometimes the first moves come before any homing
        out = ["G1 X10 Y10", "G2 X20 Y20 I5 J5", "G91", "G1 X5", "G90", *out]
    for _ in range(lines):
        out.append(_odd(rng, grbl) if rng.random() < 0.08 else _move(rng, grbl))
    eol = "\r\n" if rng.random() < 0.2 else "\n"
    end = "" if rng.random() < 0.3 else eol
    return eol.join(out) + end


def _agree(fast: dict, slow: dict) -> None:
    fast.pop("check_seconds")
    slow.pop("check_seconds")
    assert fast["violations"] == slow["violations"]
    assert fast == slow


@pytest.mark.parametrize("machine", sorted(PROFILES))
@pytest.mark.parametrize("chunk", [fast_path.CHUNK_BYTES, 4096, 257])
@pytest.mark.parametrize("seed", range(4))
def test_generated_programs_agree(machine: str, chunk: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_path, "CHUNK_BYTES", chunk)
    profile = load_profile(MACHINES / PROFILES[machine])
    text = _program(seed * 31 + len(machine), profile.dialect == "grbl")
    _agree(check_text(text, profile).to_dict(), check_text(text, profile, fast=False).to_dict())


@pytest.mark.parametrize("seed", range(12))
def test_random_characters_agree(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines of random G-code characters: whatever the lexer makes of them, the report is
    the interpreter's (and neither raises)."""
    rng = random.Random(seed)
    alphabet = "GGGMXYZEFIJ0123456789.-+ \t\r;(gxST"
    lines = ["G28", "G90"]
    for _ in range(400):
        head = rng.choice(["G1 ", "G0 ", "G2 ", "G3 ", "M73 ", "M106 ", ""])
        lines.append(head + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))))
    text = "\n".join(lines)
    monkeypatch.setattr(fast_path, "CHUNK_BYTES", rng.choice([100, fast_path.CHUNK_BYTES]))
    for machine in sorted(PROFILES):
        profile = load_profile(MACHINES / PROFILES[machine])
        _agree(check_text(text, profile).to_dict(), check_text(text, profile, fast=False).to_dict())


def test_more_violations_than_listed_agree() -> None:
    """Past MAX_VIOLATIONS only the count goes on: both must list the same first ones,
    in line order, whether the bulk check or the interpreter found them."""
    rng = random.Random(7)
    lines = ["G28"]
    for i in range(3000):
        lines.append(rng.choice(["G1 X500 Y-3", "G1 X10 Y10", "M104 S400", "G2 X300 Y10 I5 J0"]))
        if i % 100 == 0:
            lines.append("G91\nG1 X400\nG90")
    text = "\n".join(lines)
    profile = load_profile(MACHINES / PROFILES["marlin"])
    _agree(check_text(text, profile).to_dict(), check_text(text, profile, fast=False).to_dict())


@pytest.mark.parametrize("machine", sorted(PROFILES))
@pytest.mark.parametrize(
    "name",
    ["cura_puzzle_all.gcode", "mach3_plasma.gcode", "prusaslicer_plant-sign.gcode", "slic3rpe_duplo_tracks.gcode"],
)
def test_corpus_files_agree(machine: str, name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"shared corpus not present ({CORPUS})")
    profile = load_profile(MACHINES / PROFILES[machine])
    _agree(check_file(path, profile).to_dict(), check_file(path, profile, fast=False).to_dict())


def test_every_corpus_file_agrees() -> None:
    """Files added to the corpus later are held to the same."""
    files = sorted(CORPUS.glob("*.gcode")) if CORPUS.is_dir() else []
    if not files:
        pytest.skip(f"shared corpus not present ({CORPUS})")
    for path in files:
        profile = load_profile(MACHINES / PROFILES["marlin"])
        _agree(check_file(path, profile).to_dict(), check_file(path, profile, fast=False).to_dict())


def test_without_the_lexer_every_line_is_interpreted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An install without a C compiler still checks, line by line, and says so in the log."""
    monkeypatch.setattr(fast_path, "AVAILABLE", False)
    profile = load_profile(MACHINES / PROFILES["marlin"])
    with caplog.at_level("WARNING"):
        report = check_text("G28\nG1 X500 F600\n", profile)
    assert not report.fast_path
    assert [(v.line, v.kind) for v in report.violations] == [(2, "out_of_bounds")]
    assert "not built" in caplog.text


def test_long_numbers_go_to_the_interpreter_without_crashing() -> None:
    """Numbers past the lexer's exact path (over 15 significant digits or 22 decimals) are
    the interpreter's to read; the lexer runs without the GIL, where calling into CPython's
    float parser crashed the process on -1.0. Run in a child so a crash fails this test only."""
    probe = (
        "from firmware_bridge.gcode_check import check_text, load_profile\n"
        f"profile = load_profile({str(MACHINES / PROFILES['marlin'])!r})\n"
        "text = 'G28\\nG1 X-1.0000000000000000 Y5\\nG1 X10.00000000000000000000001 Y-1.00000000000000000\\n' * 50\n"
        "fast, slow = check_text(text, profile).to_dict(), check_text(text, profile, fast=False).to_dict()\n"
        "fast.pop('check_seconds'); slow.pop('check_seconds')\n"
        "print(fast == slow, fast['violation_count'])\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-500:]}"
    assert run.stdout.split() == ["True", "100"]  # X-1 and Y-1: out of bounds, once per copy
