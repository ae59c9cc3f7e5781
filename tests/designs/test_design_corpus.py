"""Real files from public repositories (the shared corpus), compared with the reference
values in its MANIFEST.tsv.

The manifest's `measured` column was taken with trimesh 5.2 and the default
`trimesh.load(path)`; cofab runs trimesh 4.12 through `designs.load_mesh`. Where our value
legitimately differs, `EXPECTED_DIFFERENCES` says what we expect instead and why. Files in
`broken/` and every non-mesh file must give a DesignFileError or an analysis that shows the
defect, never another exception.

The corpus lives outside the repository: /work/shared/corpus, or $COFAB_CORPUS.
"""

from __future__ import annotations

import csv
import hashlib
import os
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

CORPUS = Path(os.environ.get("COFAB_CORPUS", "/work/shared/corpus"))
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

    @classmethod
    def parse(cls, measured: str) -> Reference:
        faces = _number(measured, "faces")
        vertices = _number(measured, "vertices(merged)")
        bodies = _number(measured, "bodies")
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
    "broken/openscad_nonmanifold.stl": lambda a: not a.watertight and a.volume is None,
    "broken/openscad_cubes-touching.stl": lambda a: not a.watertight and a.volume is None,
    "broken/trimesh_multibody.stl": lambda a: not a.winding_consistent and a.volume is None,
    "broken/admesh_block_normal-directions-bad.stl": lambda a: not a.winding_consistent,
    "broken/trimesh_soup.stl": lambda a: not a.watertight and a.bodies == 100,
    # these two are fine as meshes: the zero-area face is issue 3's degenerate-face check,
    # and the "nonstandard" tokens are in stored normals, which are ignored (as PrusaSlicer does)
    "broken/openscad_issue1580-zero-area-triangle.stl": lambda a: a.faces == 14,
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
