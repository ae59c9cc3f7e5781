"""Format sniffing from content: generated files in every format, misnamed files, and the
bad inputs an upload form sees (empty, random, images, cut-off files, zip oddities)."""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile

import numpy as np
import pytest
import trimesh

from designs import (
    DesignFileError,
    EmptyFileError,
    MeshFormat,
    MeshTooLargeError,
    NotAMeshError,
    TruncatedMeshError,
    UnsupportedFormatError,
    extension_for,
    formats,
    sniff_file,
    sniff_format,
)
from tests.designs.conftest import encode

ALL_FORMATS = list(MeshFormat)


def sniff_bytes(data: bytes, filename: str | None = None) -> MeshFormat:
    return sniff_format(data[: formats.SNIFF_BYTES], len(data), filename)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("filename", [None, "3f2a9c0d", "part.stl", "part.obj", "part.3mf", "PART.STL"])
def test_content_decides_whatever_the_name(box20: trimesh.Trimesh, fmt: MeshFormat, filename: str | None) -> None:
    assert sniff_bytes(encode(box20, fmt), filename) is fmt


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_sniff_file_reads_head_and_size(write_mesh, box20: trimesh.Trimesh, fmt: MeshFormat) -> None:
    assert sniff_file(write_mesh(box20, fmt)) is fmt


def test_misnamed_content_is_logged(box20: trimesh.Trimesh, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="designs.formats"):
        assert sniff_bytes(encode(box20, MeshFormat.OBJ), "part.stl") is MeshFormat.OBJ
    assert "trusting the content" in caplog.text


def test_binary_stl_whose_header_starts_with_solid(box20: trimesh.Trimesh) -> None:
    data = bytearray(encode(box20, MeshFormat.STL_BINARY))
    data[:80] = b"solid exported by a CAD tool that writes this word in binary headers".ljust(80)
    assert sniff_bytes(bytes(data), "part.stl") is MeshFormat.STL_BINARY


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_ascii_stl_with_any_line_ending(box20: trimesh.Trimesh, newline: bytes) -> None:
    data = encode(box20, MeshFormat.STL_ASCII).replace(b"\n", newline)
    assert sniff_bytes(data) is MeshFormat.STL_ASCII


def test_ascii_stl_with_bom_and_indentation() -> None:
    data = b"\xef\xbb\xbf  solid x\n  facet normal 0 0 1\n   outer loop\n"
    assert sniff_bytes(data + b"    vertex 0 0 0\n" * 3 + b"endloop\nendfacet\nendsolid x\n") is MeshFormat.STL_ASCII


def test_obj_with_only_comments_needs_the_extension_to_decide() -> None:
    data = b"# exported by a tool\n# nothing else yet\n"
    assert sniff_bytes(data, "part.obj") is MeshFormat.OBJ
    with pytest.raises(NotAMeshError):
        sniff_bytes(data, "notes.txt")


def test_obj_with_groups_and_materials() -> None:
    data = b"mtllib part.mtl\no part\ng side\nusemtl red\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 1\nf 1//1 2//1 3//1\n"
    assert sniff_bytes(data) is MeshFormat.OBJ


def test_empty_file() -> None:
    with pytest.raises(EmptyFileError, match="empty"):
        sniff_format(b"", 0, "part.stl")


def test_truncated_binary_stl_says_how_much_is_missing(box20: trimesh.Trimesh) -> None:
    mesh = trimesh.creation.icosphere(subdivisions=4)  # 5120 triangles
    data = encode(mesh, MeshFormat.STL_BINARY)
    cut = data[:40_000]
    with pytest.raises(TruncatedMeshError) as caught:
        sniff_bytes(cut, "sphere.stl")
    assert str(caught.value) == (
        "binary STL declares 5,120 triangles (256,084 bytes) but the file has 40,000 bytes: it is truncated"
    )
    # the name does not matter: the triangle records decide
    with pytest.raises(TruncatedMeshError):
        sniff_bytes(cut, None)


def test_binary_stl_with_trailing_garbage(box20: trimesh.Trimesh) -> None:
    data = encode(box20, MeshFormat.STL_BINARY) + b"\x00" * 7
    with pytest.raises(NotAMeshError, match="triangle count is wrong or it has extra data"):
        sniff_bytes(data)


def test_fragment_shorter_than_a_binary_stl_header() -> None:
    with pytest.raises(TruncatedMeshError, match="84-byte header"):
        sniff_bytes(b"\x00\x01" * 20, "part.stl")
    with pytest.raises(NotAMeshError):
        sniff_bytes(b"\x00\x01" * 20, "blob")


@pytest.mark.parametrize("size", [1, 50, 83, 84, 134, 1000, 4096, 100_000])
@pytest.mark.parametrize("filename", [None, "part.stl", "part.3mf"])
def test_random_bytes_are_not_a_mesh(size: int, filename: str | None) -> None:
    data = random.Random(size).randbytes(size)
    with pytest.raises(DesignFileError) as caught:
        sniff_bytes(data, filename)
    # a .stl name may turn a tiny fragment into "truncated"; otherwise it is "not a mesh"
    assert isinstance(caught.value, NotAMeshError | TruncatedMeshError)
    if size >= 134:
        assert isinstance(caught.value, NotAMeshError)


def test_many_random_files_never_pass() -> None:
    rng = random.Random(1234)
    for _ in range(500):
        data = rng.randbytes(rng.randrange(84, 5000))
        with pytest.raises(DesignFileError):
            sniff_bytes(data)


def test_png_image_is_named() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(200)
    with pytest.raises(NotAMeshError, match="PNG image"):
        sniff_bytes(png, "part.stl")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"ISO-10303-21;\nHEADER;\n", "STEP"),
        (b"ply\nformat ascii 1.0\n", "PLY"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"  0\nSECTION\n  2\nHEADER\n", "DXF"),
    ],
)
def test_other_formats_are_unsupported(data: bytes, what: str) -> None:
    with pytest.raises(UnsupportedFormatError, match=what):
        sniff_bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        b"Hello, this is a README, not a mesh.\n",
        b"title: bracket\nlicence: CERN-OHL-S-2.0\n",
        b"solid but then nothing that looks like triangles" + b" words" * 2000,
    ],
)
def test_text_that_is_not_a_mesh(data: bytes) -> None:
    with pytest.raises(NotAMeshError):
        sniff_bytes(data, "part.stl")


def test_gcode_is_named() -> None:
    with pytest.raises(NotAMeshError, match="G-code"):
        sniff_bytes(b"; generated by a slicer\nG28\nG1 X10 Y10\n", "part.stl")


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_zip_without_model_is_not_a_3mf(write_bytes) -> None:
    path = write_bytes(_zip({"readme.txt": b"hello"}), "archive.3mf")
    assert sniff_format(path.read_bytes()[:4096], path.stat().st_size) is MeshFormat.THREEMF  # head alone can't tell
    with pytest.raises(NotAMeshError, match="3D/\\*.model"):
        sniff_file(path)


def test_truncated_3mf(write_bytes, box20: trimesh.Trimesh) -> None:
    data = encode(box20, MeshFormat.THREEMF)
    path = write_bytes(data[: len(data) // 2], "cut.3mf")
    with pytest.raises(TruncatedMeshError, match="truncated"):
        sniff_file(path)


def test_zip_bomb_is_refused_before_inflating(write_bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_bytes(_zip({"3D/3dmodel.model": b"<model/>" + b" " * 100_000}), "bomb.3mf")
    monkeypatch.setattr(formats, "MAX_3MF_UNCOMPRESSED_BYTES", 50_000)
    with pytest.raises(MeshTooLargeError, match="would inflate to 100,008 bytes"):
        sniff_file(path)


def test_empty_zip_archive() -> None:
    with pytest.raises(NotAMeshError, match="empty ZIP"):
        sniff_bytes(b"PK\x05\x06" + b"\x00" * 18)


def test_extension_for() -> None:
    assert extension_for(MeshFormat.STL_BINARY) == ".stl"
    assert extension_for(MeshFormat.STL_ASCII) == ".stl"
    assert extension_for(MeshFormat.THREEMF) == ".3mf"
    assert extension_for(MeshFormat("obj")) == ".obj"


def test_format_values_are_stable() -> None:
    assert [str(f) for f in MeshFormat] == ["stl_binary", "stl_ascii", "threemf", "obj"]


def test_zero_triangle_binary_stl_is_binary() -> None:
    data = b"\x00" * 80 + struct.pack("<I", 0)
    assert sniff_bytes(data) is MeshFormat.STL_BINARY


def test_plausibility_check_rejects_nan_triangles() -> None:
    record = np.zeros(1, dtype=formats._STL_RECORD)
    record["vertices"] = np.nan
    assert not formats._plausible_stl_records(record.tobytes())
    record["vertices"] = 1.0
    assert formats._plausible_stl_records(record.tobytes())
