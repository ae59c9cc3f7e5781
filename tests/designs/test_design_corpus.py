"""Real files from public repositories (the test corpus), compared with the reference
values in its MANIFEST.tsv.

The manifest's `measured` column was taken with trimesh 5.2 and the default
`trimesh.load(path)`; cofab runs trimesh 4.12 through `designs.load_mesh`. Where our value
legitimately differs, `EXPECTED_DIFFERENCES` says what we expect instead and why. Files in
`broken/` and every non-mesh file must give a DesignFileError or an analysis that shows the
defect, never another exception.

The corpus is an optional input from outside the repository (docs/corpus.md; tests/corpus.py finds it).
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from designs import (
    DesignFileError,
    EmptyFileError,
    EmptyMeshError,
    MeshAnalysis,
    NotAMeshError,
    UnsupportedFormatError,
    analyze_mesh,
)
from tests.corpus import CORPUS

MESH_SUFFIXES = {".stl", ".3mf", ".obj"}


@dataclass(frozen=True)
class Row:
    file: str
    measured: str
    sha256: str

    @property
    def path(self) -> Path:
        return CORPUS / self.file


def _rows() -> list[Row]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as f:
        return [Row(r["file"], r["measured"], r["sha256"]) for r in csv.DictReader(f, delimiter="\t")]


ROWS = _rows()
MESH_ROWS = [r for r in ROWS if Path(r.file).suffix.lower() in MESH_SUFFIXES]
OTHER_ROWS = [r for r in ROWS if Path(r.file).suffix.lower() not in MESH_SUFFIXES]

needs_corpus = pytest.mark.skipif(
    not ROWS, reason=f"test corpus not found at {CORPUS} (set COFAB_CORPUS to its folder)"
)


def _number(text: str, key: str) -> float | None:
    match = re.search(rf"(?:^|[;,] ){re.escape(key)}=(-?[0-9.e+-]+)", text)
    return float(match.group(1)) if match else None


def _triple(text: str, key: str) -> list[float] | None:
    match = re.search(rf"{re.escape(key)}=\[([^\]]+)\]", text)
    return [float(v) for v in match.group(1).split(",")] if match else None


def _flag(text: str, key: str) -> bool | None:
    match = re.search(rf"{re.escape(key)}=(yes|no)", text)
    return None if match is None else match.group(1) == "yes"


@dataclass(frozen=True)
class Reference:
    """What the manifest says trimesh 5.2 measured on one file."""

    load_failed: bool
    empty: bool
    faces: int | None
    vertices: int | None
    watertight: bool | None
    winding_consistent: bool | None
    is_volume: bool | None
    volume: float | None
    extents: list[float] | None
    bodies: int | None
    boundary_edges: int | None = None
    nonmanifold_edges: int | None = None
    zero_area_faces: int | None = None

    @classmethod
    def parse(cls, measured: str) -> Reference:
        faces = _number(measured, "faces")
        vertices = _number(measured, "vertices(merged)")
        bodies = _number(measured, "bodies")
        boundary = _number(measured, "boundary_edges")
        nonmanifold = _number(measured, "nonmanifold_edges(>2 faces)")
        zero_area = _number(measured, "zero_area_faces")
        return cls(
            load_failed="load FAILED" in measured,
            empty="EMPTY: 0 faces" in measured,
            faces=None if faces is None else int(faces),
            vertices=None if vertices is None else int(vertices),
            watertight=_flag(measured, "is_watertight"),
            winding_consistent=_flag(measured, "is_winding_consistent"),
            is_volume=_flag(measured, "is_volume"),
            volume=_number(measured, "volume"),
            extents=_triple(measured, "bbox extents"),
            bodies=None if bodies is None else int(bodies),
            boundary_edges=None if boundary is None else int(boundary),
            nonmanifold_edges=None if nonmanifold is None else int(nonmanifold),
            zero_area_faces=None if zero_area is None else int(zero_area),
        )


# file -> (what we expect instead of the manifest, why)
EXPECTED_DIFFERENCES: dict[str, tuple[dict[str, object], str]] = {
    "broken/prusaslicer_20mmbox-CR.stl": (
        {"loads": True, "faces": 12, "volume": 8000.0, "extents": [20.0, 20.0, 20.0], "watertight": True},
        "valid ASCII STL with CR-only line endings: trimesh's reader fails on it, designs.loading "
        "turns CRs into LFs first, giving the 12-facet 20 mm cube PrusaSlicer's own test expects",
    ),
    "3mf/3mf-samples_beam-lattice_pyramid.3mf": (
        {"error": EmptyMeshError},
        "trimesh 5.2 loaded an empty scene, trimesh 4.12 raises IndexError; either way there are no "
        "triangles, and we say so (EmptyMeshError naming the beam lattice)",
    ),
    "broken/trimesh_multibody.stl": (
        {"volume": None},
        "winding is inconsistent (one body inside-out), so the signed-volume sum the manifest "
        "reports (0.014) is not a material volume; MeshAnalysis.volume is None",
    ),
    "broken/admesh_block_normal-directions-bad.stl": (
        {"volume": None},
        "one facet is reversed (winding inconsistent): the manifest's 61.02 is a meaningless "
        "signed sum; MeshAnalysis.volume is None",
    ),
}

# the defect each loadable broken/ file must show in its analysis
BROKEN_DEFECTS = {
    "broken/openscad_nonmanifold.stl": lambda a: (
        not a.watertight and a.volume is None and a.boundary_edges == 3 and a.verdict == "not_printable"
    ),
    "broken/openscad_cubes-touching.stl": lambda a: (
        not a.watertight and a.volume is None and a.nonmanifold_edges == 1 and a.verdict == "not_printable"
    ),
    "broken/trimesh_multibody.stl": lambda a: not a.winding_consistent and a.volume is None,
    "broken/admesh_block_normal-directions-bad.stl": lambda a: not a.winding_consistent,
    "broken/trimesh_soup.stl": lambda a: not a.watertight and a.bodies == 100 and a.boundary_edges == 300,
    # a closed mesh with one zero-area face: printable, with a warning about it
    "broken/openscad_issue1580-zero-area-triangle.stl": lambda a: (
        a.faces == 14 and a.degenerate_faces == 1 and a.verdict == "printable_with_warnings"
    ),
    # the "nonstandard" tokens are in stored normals, which are ignored (as PrusaSlicer does)
    "broken/prusaslicer_20mmbox-nonstandard.stl": lambda a: a.volume == pytest.approx(8000.0),
    "broken/prusaslicer_20mmbox-CR.stl": lambda a: a.volume == pytest.approx(8000.0),
}


def _analyze(row: Row) -> MeshAnalysis:
    digest = hashlib.sha256(row.path.read_bytes()).hexdigest()
    assert digest == row.sha256, f"{row.file} differs from the manifest's copy; its reference values do not apply"
    return analyze_mesh(row.path)


@needs_corpus
@pytest.mark.parametrize("row", MESH_ROWS, ids=lambda r: r.file)
def test_mesh_file_matches_manifest(row: Row) -> None:
    ref = Reference.parse(row.measured)
    override, _why = EXPECTED_DIFFERENCES.get(row.file, ({}, ""))

    expected_error = override.get("error")
    if expected_error is None and not override.get("loads"):
        if row.path.stat().st_size == 0:
            expected_error = EmptyFileError
        elif ref.empty:
            expected_error = EmptyMeshError
        elif ref.load_failed:
            expected_error = DesignFileError
    if expected_error is not None:
        with pytest.raises(expected_error) as caught:  # type: ignore[arg-type]
            _analyze(row)
        assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)
        return

    analysis = _analyze(row)
    faces = override.get("faces", ref.faces)
    watertight = override.get("watertight", ref.watertight)
    extents = override.get("extents", ref.extents)
    assert analysis.faces == faces
    if ref.vertices is not None:
        assert analysis.vertices == ref.vertices
    assert analysis.watertight == watertight
    if ref.winding_consistent is not None:
        assert analysis.winding_consistent == ref.winding_consistent
    assert extents is not None
    assert list(analysis.bbox_extents) == pytest.approx(extents, rel=1e-4, abs=1e-6)
    if ref.bodies is not None:
        assert analysis.bodies == ref.bodies
    # issue 3's defect counts, with the manifest's definitions (meshstats uses the same)
    for field, expected in (
        ("boundary_edges", override.get("boundary_edges", ref.boundary_edges)),
        ("nonmanifold_edges", override.get("nonmanifold_edges", ref.nonmanifold_edges)),
        ("degenerate_faces", override.get("degenerate_faces", ref.zero_area_faces)),
    ):
        if expected is not None:
            assert getattr(analysis, field) == expected, field
    # the verdict follows from the defects
    blocking = not analysis.watertight or not analysis.winding_consistent
    assert (analysis.verdict == "not_printable") == blocking

    if "volume" in override:
        expected_volume = override["volume"]
    elif ref.volume is not None and ref.watertight and ref.winding_consistent:
        expected_volume = ref.volume
    else:
        expected_volume = None  # the manifest marks these "not meaningful: not watertight"
    if expected_volume is None:
        assert analysis.volume is None
    else:
        # the manifest rounds to 6 significant digits
        assert analysis.volume == pytest.approx(expected_volume, rel=1e-5)


@needs_corpus
@pytest.mark.parametrize("row", [r for r in ROWS if r.file.startswith("broken/")], ids=lambda r: r.file)
def test_broken_files_give_design_errors_or_flag_the_defect(row: Row) -> None:
    try:
        analysis = _analyze(row)
    except DesignFileError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    check = BROKEN_DEFECTS.get(row.file)
    assert check is not None, f"{row.file} loaded without error but no defect check is defined: {analysis}"
    assert check(analysis), f"{row.file}: analysis does not show the expected defect: {analysis}"


@needs_corpus
@pytest.mark.parametrize("row", OTHER_ROWS, ids=lambda r: r.file)
def test_non_mesh_files_are_refused_clearly(row: Row) -> None:
    with pytest.raises((NotAMeshError, UnsupportedFormatError)) as caught:
        _analyze(row)
    assert "\n" not in str(caught.value)


@needs_corpus
def test_binary_stl_with_solid_header_is_read_as_binary() -> None:
    analysis = analyze_mesh(CORPUS / "stl/trimesh_angle_block.STL")
    assert str(analysis.format) == "stl_binary"
    assert analysis.faces == 704


@needs_corpus
def test_corpus_files_still_load_under_a_hash_name(tmp_path: Path) -> None:
    # the node stores downloads by hash: no extension to help
    for row in MESH_ROWS:
        if Reference.parse(row.measured).faces is None or row.file in EXPECTED_DIFFERENCES:
            continue
        stored = tmp_path / row.sha256
        stored.write_bytes(row.path.read_bytes())
        assert analyze_mesh(stored).faces == Reference.parse(row.measured).faces, row.file


# --- 2D outlines (SVG, DXF) ----------------------------------------------------------

OUTLINE_SUFFIXES = {".svg", ".dxf"}
OUTLINE_ROWS = [r for r in ROWS if Path(r.file).suffix.lower() in OUTLINE_SUFFIXES]

# file -> what cofab must find, where it differs from the manifest's trimesh figures, and why
OUTLINE_EXPECTED: dict[str, tuple[dict[str, object], str]] = {
    "svg/openscad_display.svg": (
        {"closed": 17},
        "52 <rect>s of which 17 are visible: trimesh cuts the hidden ones (display:none, <defs>), "
        "designs.outlines does not",
    ),
    "svg/boxes_ABox.svg": (
        {"closed": 34},
        "34 <path> contours; trimesh's 314 'closed polygons' also count the 280 zero-length Bezier "
        "loops boxes.py draws at finger-joint corners, which enclose nothing",
    ),
    "broken/openscad_box-w-holes.svg": (
        {"closed": 5, "extents": [37.49, 37.49], "units": "px"},
        "trimesh crashes on its <circle r='0'>; we read the square and its 4 holes (the empty circle "
        "has nothing to cut). No physical size: CSS px at 96 per inch",
    ),
    "dxf/prusa-i3_MK3-front-plate.dxf": (
        {"closed": 19, "units": "m", "warning": "read as mm"},
        "declares metres but the geometry is 205 x 50 mm: kept as mm with a warning",
    ),
    "broken/openscad_polygon-self-intersect.dxf": (
        {"closed": 1, "cut_length_mm": 200 + 2 * 100 * 2**0.5},
        "the bow-tie's 4 LINEs are one closed contour crossing itself; its cut length is its 4 sides",
    ),
    "broken/openscad_nothing-decimal-comma-separated.dxf": (
        {"error": DesignFileError},
        "decimal commas are not DXF numbers: ezdxf refuses them, and so do we, with a reason",
    ),
}


def _closed_polygons(measured: str) -> int | None:
    match = re.search(r"raw closed loops=(\d+)", measured)
    return int(match.group(1)) if match else None


@needs_corpus
@pytest.mark.parametrize("row", OUTLINE_ROWS, ids=lambda r: r.file)
def test_outline_file_matches_manifest(row: Row) -> None:
    from designs import load_outline, sniff_any_file

    digest = hashlib.sha256(row.path.read_bytes()).hexdigest()
    assert digest == row.sha256, f"{row.file} differs from the manifest's copy"
    expected, _why = OUTLINE_EXPECTED.get(row.file, ({}, ""))
    if "error" in expected:
        with pytest.raises(expected["error"]) as caught:  # type: ignore[call-overload]
            load_outline(row.path)
        assert "\n" not in str(caught.value)
        return
    assert str(sniff_any_file(row.path)) == Path(row.file).suffix.lower().lstrip(".")
    outline = load_outline(row.path)
    extents = expected.get("extents", _triple(row.measured, "bbox extents"))
    assert extents is not None
    assert list(outline.bbox_extents) == pytest.approx(extents, rel=1e-3, abs=0.01)
    closed = expected.get("closed", _closed_polygons(row.measured))
    assert outline.closed_paths == closed
    assert outline.open_paths == 0
    if "units" in expected:
        assert outline.units == expected["units"]
    if "warning" in expected:
        assert any(str(expected["warning"]) in w for w in outline.warnings)
    if "cut_length_mm" in expected:
        assert outline.cut_length_mm == pytest.approx(expected["cut_length_mm"])
    assert outline.cut_length_mm > 0
