"""`cofab design analyze|thumbnail|repair`, run as a designer runs them: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trimesh

from tests.corpus import CORPUS

MESH_KEYS = {
    "format",
    "faces",
    "vertices",
    "bbox_extents",
    "volume",
    "watertight",
    "winding_consistent",
    "bodies",
    "degenerate_faces",
    "nonmanifold_edges",
    "verdict",
    "reasons",
}


def cofab(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cofab.cli", "design", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture
def box_stl(tmp_path: Path) -> Path:
    path = tmp_path / "box.stl"
    path.write_bytes(trimesh.exchange.stl.export_stl(trimesh.creation.box(extents=(20, 30, 40))))
    return path


def test_analyze_json(box_stl: Path) -> None:
    run = cofab("analyze", box_stl, "--json")
    assert run.returncode == 0, run.stderr
    data = last_json(run.stdout)
    assert set(data) >= MESH_KEYS
    assert data["kind"] == "mesh" and data["format"] == "stl_binary"
    assert data["faces"] == 12 and data["vertices"] == 8 and data["bodies"] == 1
    assert data["bbox_extents"] == pytest.approx([20, 30, 40])
    assert data["volume"] == pytest.approx(24000)
    assert data["watertight"] and data["winding_consistent"]
    assert data["degenerate_faces"] == 0 and data["nonmanifold_edges"] == 0
    assert data["verdict"] == "printable" and data["reasons"] == []


def test_analyze_human_readable(box_stl: Path) -> None:
    run = cofab("analyze", box_stl)
    assert run.returncode == 0, run.stderr
    assert "box.stl: mesh, stl_binary" in run.stdout
    assert "verdict     printable" in run.stdout


def test_analyze_defective_mesh_still_exits_0(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(20, 20, 20))
    path = tmp_path / "open.obj"
    path.write_text(trimesh.exchange.obj.export_obj(trimesh.Trimesh(box.vertices, box.faces[:-1])))
    run = cofab("analyze", path, "--json")
    assert run.returncode == 0, run.stderr
    data = last_json(run.stdout)
    assert data["format"] == "obj" and not data["watertight"]
    assert data["verdict"] == "not_printable"
    assert data["reasons"][0] == "not watertight: 3 open edges (holes in the surface)"


def test_analyze_outline(tmp_path: Path) -> None:
    path = tmp_path / "plate.svg"
    path.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="100mm" height="50mm" viewBox="0 0 100 50">'
        '<rect x="10" y="10" width="30" height="20"/><path d="M 50 10 L 90 10"/></svg>'
    )
    run = cofab("analyze", path, "--json")
    assert run.returncode == 0, run.stderr
    data = last_json(run.stdout)
    assert data["kind"] == "outline" and data["format"] == "svg"
    assert data["bbox_extents"] == pytest.approx([80, 20])
    assert data["cut_length_mm"] == pytest.approx(140)
    assert data["closed_paths"] == 1 and data["open_paths"] == 1


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG image"),
        (b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n", "truncated"),
    ],
)
def test_unreadable_file_exits_nonzero_with_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "upload.stl"
    path.write_bytes(content)
    run = cofab("analyze", path, "--json")
    assert run.returncode != 0
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in run.stderr


def test_missing_file_exits_nonzero(tmp_path: Path) -> None:
    run = cofab("analyze", tmp_path / "nope.stl")
    assert run.returncode != 0 and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"test corpus not found at {CORPUS}")
def test_analyze_corpus_dxf_with_unit_trap() -> None:
    run = cofab("analyze", CORPUS / "dxf/prusa-i3_MK3-front-plate.dxf", "--json")
    assert run.returncode == 0, run.stderr
    data = last_json(run.stdout)
    assert data["bbox_extents"] == pytest.approx([205, 50])
    assert data["closed_paths"] == 19 and data["units"] == "m"
    assert "ezdxf" not in run.stderr  # the library's info chatter is kept out of the terminal


def test_thumbnail_and_repair(tmp_path: Path, box_stl: Path) -> None:
    png = tmp_path / "thumb.png"
    run = cofab("thumbnail", box_stl, png, "--size", "64")
    assert run.returncode == 0, run.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    box = trimesh.creation.box(extents=(20, 20, 20))
    faces = box.faces.copy()
    faces[0] = faces[0][::-1]
    broken = tmp_path / "flipped.stl"
    broken.write_bytes(trimesh.exchange.stl.export_stl(trimesh.Trimesh(box.vertices, faces, process=False)))
    fixed = tmp_path / "fixed.stl"
    run = cofab("repair", broken, fixed)
    assert run.returncode == 0, run.stderr
    assert "reoriented 1 face" in run.stdout
    assert last_json(cofab("analyze", fixed, "--json").stdout)["winding_consistent"]
    run = cofab("repair", box_stl, tmp_path / "unneeded.stl")
    assert run.returncode == 0 and "nothing to repair" in run.stdout
    assert not (tmp_path / "unneeded.stl").exists()


def test_analyze_binary_stl_imports_only_what_it_needs(box_stl: Path) -> None:
    # the command users run on large STLs: no trimesh/scipy/networkx (~1 s to import), no
    # structlog until a line is logged, and numpy's BLAS kept to one thread (designs.oneshot)
    probe = (
        "import os, sys\n"
        "from cofab.cli import main\n"
        f"code = main(['design', 'analyze', {str(box_stl)!r}, '--json'])\n"
        "heavy = sorted(m for m in ('trimesh', 'scipy', 'networkx', 'structlog') if m in sys.modules)\n"
        "print(code, heavy, os.environ.get('OPENBLAS_NUM_THREADS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "0 [] 1"


def _run_logging_probe(probe: str) -> str:
    """Run `probe` in a fresh interpreter (logging is configured once per process); its stdout."""
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_logging_still_renders_key_values_once_a_line_is_written() -> None:
    probe = (
        "import io, logging, sys\n"
        "from cofab import logs\n"
        "out = io.StringIO()\n"
        "logs.configure(stream=out, json=False)\n"
        "print('structlog' in sys.modules)\n"
        "logging.getLogger('cofab.test').warning('hello', extra={'lab': 'x1'})\n"
        "print('structlog' in sys.modules)\n"
        "print(out.getvalue().strip())\n"
    )
    before, after, line = _run_logging_probe(probe).strip().splitlines()
    assert (before, after) == ("False", "True")
    assert "level='warning'" in line and "logger='cofab.test'" in line and "event='hello'" in line
    assert "lab='x1'" in line


def test_a_logged_exception_shows_its_traceback_not_a_tuple() -> None:
    probe = (
        "import io, logging\n"
        "from cofab import logs\n"
        "out = io.StringIO()\n"
        "logs.configure(stream=out, json=False)\n"
        "try:\n"
        "    raise KeyError('world')\n"
        "except KeyError:\n"
        "    logging.getLogger('cofab.test').warning('load failed', exc_info=True)\n"
        "print(out.getvalue())\n"
    )
    output = _run_logging_probe(probe)
    # key=value lines stay one line per record: the traceback is the escaped `exception` value
    assert "exception='Traceback (most recent call last):\\n" in output and "KeyError: " in output
    assert "<traceback object" not in output and "exc_info" not in output
