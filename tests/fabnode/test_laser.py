"""Laser jobs from real SVG/DXF cut files: material settings, kerf, order, header, and the
safety check passing the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabnode.laser import LaserJobError, write_laser_gcode
from firmware_bridge.gcode_check import check_file, load_profile

ROOT = Path(__file__).resolve().parents[2]
LASER = load_profile(ROOT / "examples" / "machines" / "grbl-laser.toml")
CORPUS = ROOT.parent / "shared" / "corpus"

SQUARE_WITH_HOLE = """<svg xmlns="http://www.w3.org/2000/svg" width="60mm" height="60mm" viewBox="0 0 60 60">
  <rect x="0" y="0" width="60" height="60" fill="none" stroke="black"/>
  <circle cx="30" cy="30" r="10" fill="none" stroke="black"/>
</svg>
"""


def moves_between(lines: list[str], start: int) -> list[tuple[float, float]]:
    points = []
    for line in lines[start:]:
        if line == "M5":
            break
        if line.startswith("G1"):
            words = dict((w[0], float(w[1:])) for w in line.split()[1:])
            points.append((words["X"], words["Y"]))
    return points


def test_square_with_a_hole_cuts_the_hole_first_with_kerf_and_material(tmp_path: Path) -> None:
    svg = tmp_path / "plate.svg"
    svg.write_text(SQUARE_WITH_HOLE)
    out = tmp_path / "plate.gcode"
    job = write_laser_gcode(svg, out, LASER, "plywood-3mm", header=["; cofab job j-1", "; licence: CERN-OHL-S-2.0"])
    lines = out.read_text().splitlines()
    assert lines[:2] == ["; cofab job j-1", "; licence: CERN-OHL-S-2.0"]
    assert (job.power_s, job.feed_mm_min, job.passes, job.contours) == (850.0, 400.0, 2, 2)
    starts = [i for i, line in enumerate(lines) if line.startswith("M4 ")]
    assert len(starts) == 2 and all(lines[i] == "M4 S850" for i in starts)
    assert all(lines[i - 1].startswith("G0 ") for i in starts), "travel with the laser off"
    hole, outer = moves_between(lines, starts[0]), moves_between(lines, starts[1])
    xs_hole = [x for x, _ in hole]
    xs_outer = [x for x, _ in outer]
    # The hole (r=10) comes first, shrunk by half the 0.15 mm kerf; the outer square grows.
    assert max(xs_hole) - min(xs_hole) == pytest.approx(20 - 0.15, abs=0.05)
    assert max(xs_outer) - min(xs_outer) == pytest.approx(60 + 0.15, abs=0.01)
    assert lines[-2:] == ["G0 X0 Y0", "M2"]
    # Two passes: each contour's moves appear twice before its M5.
    assert len(hole) % 2 == 0
    report = check_file(out, LASER)
    assert report.safe, report.violations
    assert report.max_s == 850.0


def test_acrylic_uses_constant_power_m3(tmp_path: Path) -> None:
    svg = tmp_path / "plate.svg"
    svg.write_text(SQUARE_WITH_HOLE)
    job = write_laser_gcode(svg, tmp_path / "a.gcode", LASER, "Acrylic-3mm")
    text = (tmp_path / "a.gcode").read_text()
    assert "M3 S900" in text and "M4" not in text
    assert job.passes == 1


def test_the_finger_joint_box_from_the_corpus_becomes_safe_laser_gcode(tmp_path: Path) -> None:
    svg = CORPUS / "svg" / "boxes_ABox.svg"
    if not svg.exists():
        pytest.skip("shared corpus not present")
    out = tmp_path / "box.gcode"
    job = write_laser_gcode(svg, out, LASER, "cardboard")
    assert job.contours > 6
    assert job.cut_length_mm > 1000
    report = check_file(out, LASER)
    assert report.safe, report.violations[:3]
    assert report.bounds_max_mm[0] <= 400 and report.bounds_max_mm[1] <= 300


def test_a_panel_larger_than_the_bed_is_refused_with_sizes(tmp_path: Path) -> None:
    dxf = CORPUS / "dxf" / "voron2_250_Deck_Panel.dxf"
    if not dxf.exists():
        pytest.skip("shared corpus not present")
    with pytest.raises(LaserJobError, match=r"369\.\d x 369\.\d mm; .* cuts at most 390\.0 x 290\.0"):
        write_laser_gcode(dxf, tmp_path / "panel.gcode", LASER, "plywood-3mm")


def test_an_unknown_material_names_the_known_ones(tmp_path: Path) -> None:
    svg = tmp_path / "plate.svg"
    svg.write_text(SQUARE_WITH_HOLE)
    with pytest.raises(ValueError, match="no material 'steel'.*plywood-3mm"):
        write_laser_gcode(svg, tmp_path / "x.gcode", LASER, "steel")
