"""The verdict and its reasons (designs.printability), and how analysis reports them."""

from __future__ import annotations

import json

import pytest
import trimesh

from designs import MeshFormat, Verdict, analyze_trimesh
from designs.printability import (
    MAX_PLAUSIBLE_EXTENT_MM,
    MIN_PLAUSIBLE_EXTENT_MM,
    OVERHANG_WARNING_FRACTION,
    Defects,
    judge,
    units_hint,
)

CLEAN = dict(
    watertight=True,
    winding_consistent=True,
    boundary_edges=0,
    nonmanifold_edges=0,
    degenerate_faces=0,
    signed_volume=1000.0,
    overhang_fraction=0.0,
    extents_mm=(20, 20, 20),
)


def verdict(**changes) -> tuple[Verdict, tuple[str, ...]]:
    return judge(Defects(**{**CLEAN, **changes}))


def test_clean_part_is_printable() -> None:
    assert verdict() == (Verdict.PRINTABLE, ())


def test_holes_and_nonmanifold_edges_are_blocking() -> None:
    result, reasons = verdict(watertight=False, boundary_edges=3, nonmanifold_edges=1)
    assert result is Verdict.NOT_PRINTABLE
    assert reasons[0] == "not watertight: 3 open edges (holes in the surface)"
    assert "1 non-manifold edges" in reasons[1]


def test_inconsistent_winding_is_blocking() -> None:
    result, reasons = verdict(winding_consistent=False)
    assert result is Verdict.NOT_PRINTABLE
    assert reasons == ("inconsistent winding: neighbouring faces disagree about which side is outside",)


def test_blocking_reasons_come_before_warnings() -> None:
    result, reasons = verdict(watertight=False, boundary_edges=3, degenerate_faces=2)
    assert result is Verdict.NOT_PRINTABLE
    assert reasons[0].startswith("not watertight") and "2 degenerate" in reasons[1]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"degenerate_faces": 4}, "4 degenerate (zero-area) faces"),
        ({"signed_volume": -5.0}, "inside-out"),
        ({"extents_mm": (0.1, 0.05, 0.02)}, "looks like metres"),
        ({"extents_mm": (9000, 10, 10)}, "micrometres"),
        ({"overhang_fraction": OVERHANG_WARNING_FRACTION + 0.01}, "needs supports"),
    ],
)
def test_warnings(changes: dict, words: str) -> None:
    result, reasons = verdict(**changes)
    assert result is Verdict.PRINTABLE_WITH_WARNINGS
    assert len(reasons) == 1 and words in reasons[0]


def test_overhang_at_the_threshold_is_fine() -> None:
    assert verdict(overhang_fraction=OVERHANG_WARNING_FRACTION)[0] is Verdict.PRINTABLE


def test_inside_out_is_only_judged_on_closed_meshes() -> None:
    _result, reasons = verdict(winding_consistent=False, signed_volume=-5.0)
    assert not any("inside-out" in r for r in reasons)


def test_units_hint_suggests_conversions_that_land_in_range() -> None:
    assert units_hint((MIN_PLAUSIBLE_EXTENT_MM, 0, 0)) is None
    assert units_hint((MAX_PLAUSIBLE_EXTENT_MM, 0, 0)) is None
    hint = units_hint((0.127, 0.0635, 0.035))  # the corpus's STEP part, in metres
    assert hint is not None and "metres (x1000 = 127 mm)" in hint and "inches (x25.4 = 3.23 mm)" in hint
    small = units_hint((0.05, 0.01, 0.01))  # x10 would still be 0.5 mm: not suggested
    assert small is not None and "metres (x1000 = 50 mm)" in small and "centimetres" not in small
    assert units_hint((0.0, 0.0, 0.0)) == "the part has no size (all vertices coincide)"
    assert "implausible" in (units_hint((1e12, 1, 1)) or "")


def test_analysis_carries_verdict_and_reasons_as_json(box20: trimesh.Trimesh) -> None:
    open_box = trimesh.Trimesh(box20.vertices, box20.faces[:-1])
    result = analyze_trimesh(open_box, MeshFormat.OBJ)
    assert result.verdict is Verdict.NOT_PRINTABLE
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["verdict"] == "not_printable"
    assert data["reasons"] == ["not watertight: 3 open edges (holes in the surface)"]
    assert data["boundary_edges"] == 3 and data["nonmanifold_edges"] == 0
