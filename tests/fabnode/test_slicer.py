"""fabnode.slicer with the real PrusaSlicer and the shipped profile.

Meshes are generated with trimesh and stored as the node stores downloads: by hash, without
an extension. Tests that run PrusaSlicer are marked `integration`; without it they skip, or fail under
CI (tests.conftest.require_component).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trimesh

from designs import NotAMeshError
from fabnode import slicer
from fabnode.slicer import (
    DEFAULT_PROFILE,
    DoesNotFitBedError,
    SlicerError,
    SlicerNotFoundError,
    SlicerTimeoutError,
    find_prusa_slicer,
    profile_bed_center,
    profile_build_volume,
    read_estimated_print_time,
    read_profile,
    slice_mesh,
)
from tests.conftest import require_component

HASH_NAME = "5f2b0c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c"
_MOVE = re.compile(r"^G[01] (?P<args>.*?)(?:;.*)?$", re.MULTILINE)


@pytest.fixture(scope="module")
def prusa_slicer() -> str:
    try:
        return find_prusa_slicer()
    except SlicerNotFoundError as exc:
        require_component("PrusaSlicer", str(exc))


def _write_cube(folder: Path, size_mm: float, *, name: str = HASH_NAME, file_type: str = "stl") -> Path:
    mesh = trimesh.creation.box(extents=(size_mm, size_mm, size_mm))
    mesh.apply_translation((0, 0, size_mm / 2))
    path = folder / name
    data = mesh.export(file_type=file_type)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _axis_ranges(gcode: str) -> dict[str, tuple[float, float]]:
    """Min/max of X, Y, Z over all G0/G1 moves (the profile uses absolute XYZ only)."""
    seen: dict[str, list[float]] = {"X": [], "Y": [], "Z": []}
    for match in _MOVE.finditer(gcode):
        for word in match.group("args").split():
            if word[0] in seen:
                seen[word[0]].append(float(word[1:]))
    return {axis: (min(values), max(values)) for axis, values in seen.items()}


@pytest.mark.integration
@pytest.mark.parametrize("file_type", ["stl", "3mf", "obj"])
def test_slices_a_20mm_cube_stored_by_hash(prusa_slicer: str, tmp_path: Path, file_type: str) -> None:
    mesh_path = _write_cube(tmp_path, 20.0, file_type=file_type)
    out = tmp_path / "out" / "job.gcode"

    result = slice_mesh(mesh_path, out, profile=None, bed_center_mm=None, timeout_s=120)

    assert result.gcode_path == out.absolute()
    assert out.is_file() and result.gcode_bytes == out.stat().st_size > 10_000
    assert 0 < result.seconds < 120
    gcode = out.read_text()
    assert len(re.findall(r"^G1 X", gcode, re.MULTILINE)) > 100
    assert result.estimated_print_time and re.fullmatch(r"(\d+[dhms] ?)+", result.estimated_print_time)
    assert result.estimated_print_s and 60 < result.estimated_print_s < 3 * 3600
    assert list(out.parent.iterdir()) == [out]  # no partial files left beside it


@pytest.mark.integration
def test_gcode_follows_the_profile(prusa_slicer: str, tmp_path: Path) -> None:
    out = tmp_path / "cube.gcode"
    slice_mesh(_write_cube(tmp_path, 20.0), out, profile=DEFAULT_PROFILE, bed_center_mm=None)
    gcode = out.read_text()
    body = gcode.split("; prusaslicer_config = begin")[0]

    assert "M104 S210" in body and "M109 S210" in body  # PLA nozzle
    assert "M140 S60" in body and "M190 S60" in body  # PLA bed
    assert "M83" in body  # relative extrusion ...
    assert body.count("G92 E0") > 60  # ... reset every layer (0.3 mm layers: 67 of them)
    assert ";Z:0.3\n" in body and ";Z:0.6\n" in body
    assert not re.search(r"^M30\b", body, re.MULTILINE)  # hangs OctoPrint's virtual printer
    assert not re.search(r"^G91\b", body, re.MULTILINE)  # absolute XYZ only
    ranges = _axis_ranges(body)
    # every move stays on the 220 x 220 bed and below 250 mm
    assert ranges["X"][0] >= 0 and ranges["X"][1] <= 220
    assert ranges["Y"][0] >= 0 and ranges["Y"][1] <= 220
    assert ranges["Z"][0] >= 0 and ranges["Z"][1] <= 250
    # PrusaSlicer arranged the part around the bed centre (110, 110)
    assert "; bed_shape = 0x0,220x0,220x220,0x220" in gcode


@pytest.mark.integration
def test_bed_center_moves_the_part(prusa_slicer: str, tmp_path: Path) -> None:
    out = tmp_path / "cube.gcode"
    slice_mesh(_write_cube(tmp_path, 20.0), out, profile=None, bed_center_mm=(60.0, 150.0))
    layer = out.read_text().split(";Z:0.6\n")[1].split(";LAYER_CHANGE")[0]
    xs = [float(x) for x in re.findall(r"^G1 X([\d.]+)", layer, re.MULTILINE)]
    ys = [float(y) for y in re.findall(r"^G1 X[\d.]+ Y([\d.]+)", layer, re.MULTILINE)]
    assert min(xs) > 49 and max(xs) < 71
    assert min(ys) > 139 and max(ys) < 161


@pytest.mark.integration
def test_400mm_cube_does_not_fit(prusa_slicer: str, tmp_path: Path) -> None:
    out = tmp_path / "out" / "big.gcode"
    with pytest.raises(DoesNotFitBedError) as caught:
        slice_mesh(_write_cube(tmp_path, 400.0), out, profile=None, bed_center_mm=None)
    assert isinstance(caught.value, SlicerError)
    assert "does not fit" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


@pytest.mark.integration
def test_timeout_is_reported_and_cleaned_up(prusa_slicer: str, tmp_path: Path) -> None:
    out = tmp_path / "out" / "slow.gcode"
    with pytest.raises(SlicerTimeoutError, match="did not finish within"):
        slice_mesh(_write_cube(tmp_path, 20.0), out, profile=None, bed_center_mm=None, timeout_s=0.001)
    assert list(out.parent.iterdir()) == []


@pytest.mark.integration
def test_prusaslicer_error_is_one_line(prusa_slicer: str, tmp_path: Path) -> None:
    # relative extrusion without `layer_gcode = G92 E0`: PrusaSlicer refuses the config
    values = DEFAULT_PROFILE.read_text().replace("layer_gcode = G92 E0", "layer_gcode = ")
    profile = tmp_path / "broken.ini"
    profile.write_text(values)
    with pytest.raises(SlicerError) as caught:
        slice_mesh(_write_cube(tmp_path, 20.0), tmp_path / "x.gcode", profile=profile, bed_center_mm=None)
    message = str(caught.value)
    assert message.startswith("PrusaSlicer failed (exit code")
    assert "\n" not in message and "[trace]" not in message


def test_not_a_mesh_is_refused_before_slicing(tmp_path: Path) -> None:
    junk = tmp_path / HASH_NAME
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(NotAMeshError, match="PNG"):
        slice_mesh(junk, tmp_path / "x.gcode", profile=None, bed_center_mm=None, slicer="/bin/false")


def test_missing_profile_and_input(tmp_path: Path) -> None:
    with pytest.raises(SlicerError, match="profile"):
        slice_mesh(_write_cube(tmp_path, 20.0), tmp_path / "x.gcode", profile=tmp_path / "nope.ini", bed_center_mm=None)
    with pytest.raises(SlicerError, match="does not exist"):
        slice_mesh(tmp_path / "nope.stl", tmp_path / "x.gcode", profile=None, bed_center_mm=None)


# --- finding the binary ----------------------------------------------------------------


def test_env_pointing_nowhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(slicer.ENV_PRUSA_SLICER, "/nonexistent/prusa-slicer")
    with pytest.raises(SlicerNotFoundError, match="COFAB_PRUSA_SLICER is set to '/nonexistent/prusa-slicer'"):
        find_prusa_slicer()


def test_not_on_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SlicerNotFoundError, match="PrusaSlicer is not installed"):
        find_prusa_slicer({"PATH": str(tmp_path)})


def test_env_wins_over_path(tmp_path: Path) -> None:
    fake = tmp_path / "my-prusa"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    assert find_prusa_slicer({"PATH": "/usr/bin", slicer.ENV_PRUSA_SLICER: str(fake)}) == str(fake)


def test_slice_with_missing_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cube = _write_cube(tmp_path, 20.0)
    with pytest.raises(SlicerNotFoundError, match="cannot run PrusaSlicer"):
        slice_mesh(cube, tmp_path / "x.gcode", profile=None, bed_center_mm=None, slicer=str(tmp_path / "nope"))
    monkeypatch.setenv(slicer.ENV_PRUSA_SLICER, str(tmp_path / "nope"))
    with pytest.raises(SlicerNotFoundError):
        slice_mesh(cube, tmp_path / "x.gcode", profile=None, bed_center_mm=None)
    assert not (tmp_path / "x.gcode").exists()


# --- profile helpers and output parsing -------------------------------------------------


def test_shipped_profile() -> None:
    values = read_profile(DEFAULT_PROFILE)
    assert values["gcode_flavor"] == "marlin2"
    assert values["nozzle_diameter"] == "0.4"
    assert values["temperature"] == "210" and values["bed_temperature"] == "60"
    assert values["layer_height"] == "0.3"
    assert values["use_relative_e_distances"] == "1" and values["layer_gcode"] == "G92 E0"
    assert "M30" not in values["end_gcode"]
    assert profile_build_volume() == (220.0, 220.0, 250.0)
    assert profile_bed_center() == (110.0, 110.0)


def test_estimated_print_time_from_footer(tmp_path: Path) -> None:
    gcode = tmp_path / "x.gcode"
    gcode.write_text(
        "G1 X1\n; estimated printing time (normal mode) = 1d 2h 3m 4s\n"
        "; estimated printing time (silent mode) = 2d 2h 3m 4s\n; prusaslicer_config = begin\n"
    )
    assert read_estimated_print_time(gcode) == "1d 2h 3m 4s"
    assert slicer._duration_seconds("1d 2h 3m 4s") == 93784
    gcode.write_text("G1 X1\n")
    assert read_estimated_print_time(gcode) is None


def test_trace_lines_are_filtered() -> None:
    error = slicer._failure(
        1,
        "[2026-11-25 23:04:20.033027] [0x00007f35c8672d80] [trace]   Initializing StaticPrintConfigs\n",
        "[2026-11-25 23:04:20.1] [0x00007f35c8672d80] [trace]   Initializing StaticPrintConfigs\n"
        "model: Unknown file format. Input file must have .stl, .obj, .amf(.xml), .prusa or .step/.stp extension.\n",
    )
    assert str(error) == (
        "PrusaSlicer failed (exit code 1): model: Unknown file format. Input file must have .stl, .obj, "
        ".amf(.xml), .prusa or .step/.stp extension."
    )
    abort = slicer._failure(
        -6,
        "",
        "terminate called after throwing an instance of 'Slic3r::RuntimeError'\n"
        "  what():  Objects could not fit on the bed\n",
    )
    assert isinstance(abort, DoesNotFitBedError)
