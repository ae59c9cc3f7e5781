"""Tell which mesh format a file holds from its bytes, not from its name.

Why content first: the node stores downloads by content hash (no extension), uploads arrive
with whatever name a designer's tool chose, and a wrong name must not send a file to the
wrong parser (a binary STL whose 80-byte header starts with "solid" is the classic trap).
The extension is used only to break a tie the bytes cannot decide, and a conflict between
name and content is logged and resolved in favour of the content.

`sniff_format` works on the first bytes and the total size, so the hub can call it on an
upload stream before the whole file has arrived; `sniff_file` adds the checks that need
random access (the table of contents of a 3MF's ZIP container).
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path, PurePath
from typing import TypeVar

import numpy as np

from designs.errors import (
    EmptyFileError,
    MeshTooLargeError,
    NotAMeshError,
    TruncatedMeshError,
    UnsupportedFormatError,
)

__all__ = [
    "MAX_3MF_COMPRESSION_RATIO",
    "MAX_3MF_MEMBERS",
    "MAX_3MF_UNCOMPRESSED_BYTES",
    "SNIFF_BYTES",
    "MeshFormat",
    "check_3mf_container",
    "extension_for",
    "sniff_file",
    "sniff_format",
    "sniff_path",
]

log = logging.getLogger(__name__)

#: How many leading bytes `sniff_format` wants. Enough for the 84-byte binary STL header
#: plus a few triangles, and for the first lines of an ASCII STL or OBJ even after a long
#: comment block.
SNIFF_BYTES = 8192

#: A 3MF is a ZIP; trimesh inflates every part into memory. Refuse archives that declare
#: more than this in total, so a small "zip bomb" upload cannot exhaust a node's memory.
MAX_3MF_UNCOMPRESSED_BYTES = 1 << 30
#: No part of a real 3MF deflates better than this (model XML ~5-15x, textures ~1x); zip
#: bombs reach 1000x and more. Checked for parts that inflate beyond
#: `_RATIO_CHECK_MIN_BYTES`, where a high ratio cannot be a tiny file's header overhead.
MAX_3MF_COMPRESSION_RATIO = 200
#: A 3MF holds a model, a few relationships, thumbnails and textures: thousands of parts
#: is a table-of-contents bomb (each entry costs memory before anything inflates).
MAX_3MF_MEMBERS = 10_000
_RATIO_CHECK_MIN_BYTES = 1 << 20
# the 3MF core spec (OPC) allows these ZIP methods only
_3MF_COMPRESSIONS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})

_STL_HEADER_BYTES = 84
_STL_RECORD_BYTES = 50
# one binary STL triangle record: normal, 3 vertices, attribute byte count
_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])
# beyond 1 km in any unit a coordinate is far more likely garbage than geometry
_PLAUSIBLE_COORDINATE = 1e7

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"

# (magic prefix, description, error class): formats people upload by mistake, named so the
# message says what the file actually is
_KNOWN_MAGIC: tuple[tuple[bytes, str, type[NotAMeshError] | type[UnsupportedFormatError]], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image", NotAMeshError),
    (b"\xff\xd8\xff", "a JPEG image", NotAMeshError),
    (b"GIF87a", "a GIF image", NotAMeshError),
    (b"GIF89a", "a GIF image", NotAMeshError),
    (b"%PDF-", "a PDF document", NotAMeshError),
    (b"\x1f\x8b", "a gzip archive", NotAMeshError),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", NotAMeshError),
    (b"Rar!", "a RAR archive", NotAMeshError),
    (b"ISO-10303-21", "a STEP CAD file", UnsupportedFormatError),
    (b"ply\n", "a PLY mesh", UnsupportedFormatError),
    (b"ply\r\n", "a PLY mesh", UnsupportedFormatError),
    (b"glTF", "a binary glTF (GLB) file", UnsupportedFormatError),
)

# first tokens of OBJ lines (geometry, grouping, materials, free-form surfaces)
_OBJ_KEYWORDS = frozenset(
    b"v vn vt vp f l p o g s mg mtllib usemtl maplib usemap lod shadow_obj trace_obj "
    b"cstype deg bmat step curv curv2 surf parm trim hole scrv sp end con ctech stech "
    b"bevel c_interp d_interp call csh".split()
)
_OBJ_GEOMETRY = frozenset({b"v", b"f"})


class MeshFormat(StrEnum):
    """The mesh encodings cofab reads. Values are stable: they are stored and sent."""

    STL_BINARY = "stl_binary"
    STL_ASCII = "stl_ascii"
    THREEMF = "threemf"
    OBJ = "obj"


_Sniffed = TypeVar("_Sniffed")

_EXTENSIONS: dict[MeshFormat, str] = {
    MeshFormat.STL_BINARY: ".stl",
    MeshFormat.STL_ASCII: ".stl",
    MeshFormat.THREEMF: ".3mf",
    MeshFormat.OBJ: ".obj",
}


def extension_for(fmt: MeshFormat) -> str:
    """The file extension, with its dot, that tools expect for `fmt` (e.g. ".stl").

    PrusaSlicer and most viewers choose their reader by extension, so a file stored by hash
    gets this suffix before it is handed to them.
    """
    return _EXTENSIONS[MeshFormat(fmt)]


def _extension_of(filename: str | None) -> str:
    return PurePath(filename).suffix.lower() if filename else ""


def _is_text(head: bytes) -> bool:
    """True when `head` looks like text: no NUL, and almost no other control bytes.

    Latin-1 or UTF-8 bytes above 0x7f are fine (names and comments in OBJ/STL files)."""
    if not head or b"\x00" in head:
        return False
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D))
    return controls <= len(head) // 100


def _strip_text_start(head: bytes) -> bytes:
    """Drop a UTF-8 byte-order mark and leading whitespace."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.lstrip()


def _declared_stl_triangles(head: bytes) -> int:
    return int.from_bytes(head[80:84], "little")


def _plausible_stl_records(records: bytes) -> bool:
    """Whether `records` (whole 50-byte binary STL records) look like real triangles.

    Why: a binary STL cut short and random bytes both fail the size check; real triangle
    records hold finite, moderate floats, while random bits give NaN/inf or huge exponents in
    some of the 12 floats per record with overwhelming probability (< 1e-15 for 8 records).
    """
    count = len(records) // _STL_RECORD_BYTES
    if count == 0:
        return False
    rec = np.frombuffer(records[: count * _STL_RECORD_BYTES], dtype=_STL_RECORD)
    vertices = rec["vertices"]  # (count, 3, 3) float32
    normals = rec["normal"]  # (count, 3) float32
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(
            np.isfinite(normals).all()
            and np.isfinite(vertices).all()
            and (np.abs(vertices) < _PLAUSIBLE_COORDINATE).all()
            and (np.abs(normals) <= 1.5).all()
        )


def _looks_like_ascii_stl(text_start: bytes, complete: bool) -> bool:
    lower = text_start[:SNIFF_BYTES].lower()
    if not lower.startswith(b"solid"):
        return False
    # "solid" alone is also how some binary headers begin, so ask for STL keywords too;
    # a whole file holding only "solid name" is an (empty) ASCII STL
    return b"facet" in lower or b"vertex" in lower or b"endsolid" in lower or complete


def _looks_like_obj(text_start: bytes, complete: bool) -> bool | None:
    """True/False when the lines decide it; None when there is only commentary."""
    lines = text_start.splitlines()
    if not complete and lines:
        lines = lines[:-1]  # the last line may be cut mid-way
    keywords = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith(b"#"):
            continue
        keywords.append(stripped.split(None, 1)[0])
    if not keywords:
        return None
    known = sum(1 for k in keywords if k in _OBJ_KEYWORDS)
    # tolerate a few vendor-specific lines, which trimesh ignores too
    if keywords[0] not in _OBJ_KEYWORDS or known < 0.9 * len(keywords):
        return False
    if any(k in _OBJ_GEOMETRY for k in keywords):
        return True
    return None  # only names/materials so far: let the extension decide


def _known_text_format(
    text_start: bytes,
) -> tuple[str, type[NotAMeshError] | type[UnsupportedFormatError]] | None:
    """Name text formats people upload by mistake (2D drawings for the laser, AMF, G-code)."""
    lower = text_start[:SNIFF_BYTES].lower()
    if lower.startswith((b"<?xml", b"<svg", b"<amf", b"<!--")):
        if b"<svg" in lower:
            return "an SVG drawing", UnsupportedFormatError
        if b"<amf" in lower:
            return "an AMF mesh", UnsupportedFormatError
        return "an XML document", NotAMeshError
    if re.match(rb"0\s*[\r\n]+\s*section", lower):
        return "a DXF drawing", UnsupportedFormatError
    if re.match(rb"(;[^\n]*\n\s*)*[gm]\d+[ \t\r\n;]", lower):
        return "G-code", NotAMeshError
    return None


def _format_bytes(n: int) -> str:
    return f"{n:,} bytes"


def sniff_format(head: bytes, total_size: int, filename: str | None = None) -> MeshFormat:
    """Decide the mesh format of a file from its first bytes and its size.

    head: the first bytes of the file (`SNIFF_BYTES` are enough; fewer if the file is
    shorter). total_size: the file's full size in bytes. filename: only a tie-breaker when
    the bytes cannot decide (e.g. a 60-byte fragment of a binary STL), never trusted over
    the content.

    Raises EmptyFileError (0 bytes), TruncatedMeshError (a binary STL shorter than its
    declared triangle count), UnsupportedFormatError (STEP, PLY, GLB...) or NotAMeshError
    (anything else that is not STL/3MF/OBJ).
    """
    ext = _extension_of(filename)
    if total_size == 0:
        raise EmptyFileError("the file is empty (0 bytes)")
    if head.startswith(_ZIP_MAGIC):
        return _claimed(MeshFormat.THREEMF, ext)
    if head.startswith(_EMPTY_ZIP_MAGIC):
        raise NotAMeshError("the file is an empty ZIP archive, not a 3MF mesh")
    for magic, what, error in _KNOWN_MAGIC:
        if head.startswith(magic):
            raise error(f"the file is {what}, not a 3D mesh (STL, 3MF or OBJ)")

    # binary STL first: its size is exactly 84 + 50 * declared triangles, which text
    # practically never satisfies (bytes 80-84 of text decode to hundreds of millions)
    if total_size >= _STL_HEADER_BYTES and len(head) >= _STL_HEADER_BYTES:
        declared = _declared_stl_triangles(head)
        expected = _STL_HEADER_BYTES + _STL_RECORD_BYTES * declared
        if expected == total_size:
            return _claimed(MeshFormat.STL_BINARY, ext)

    complete = len(head) >= total_size
    if _is_text(head):
        text = _strip_text_start(head)
        if _looks_like_ascii_stl(text, complete):
            return _claimed(MeshFormat.STL_ASCII, ext)
        obj = _looks_like_obj(text, complete)
        if obj or (obj is None and ext == ".obj"):
            return _claimed(MeshFormat.OBJ, ext)
        known = _known_text_format(text)
        if known is not None:
            what, error = known
            raise error(f"the file is {what}, not a 3D mesh (STL, 3MF or OBJ)")
        raise NotAMeshError("the file is text but neither an ASCII STL nor an OBJ mesh")

    _raise_for_binary(head, total_size, ext)
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_for_binary(head: bytes, total_size: int, ext: str) -> None:
    """Explain why binary content that failed the exact binary-STL size check is refused."""
    if total_size < _STL_HEADER_BYTES:
        if ext == ".stl":
            raise TruncatedMeshError(
                f"the file has {_format_bytes(total_size)}, less than the 84-byte header "
                "of a binary STL: it is truncated"
            )
        raise NotAMeshError(f"the file ({_format_bytes(total_size)}) is not a recognised 3D mesh (STL, 3MF or OBJ)")
    declared = _declared_stl_triangles(head)
    expected = _STL_HEADER_BYTES + _STL_RECORD_BYTES * declared
    records = head[_STL_HEADER_BYTES : _STL_HEADER_BYTES + 8 * _STL_RECORD_BYTES]
    plausible = _plausible_stl_records(records)
    if not plausible and not (ext == ".stl" and len(records) < _STL_RECORD_BYTES):
        raise NotAMeshError("the file is not a recognised 3D mesh (STL, 3MF or OBJ)")
    if expected > total_size:
        raise TruncatedMeshError(
            f"binary STL declares {declared:,} triangles ({_format_bytes(expected)}) but the "
            f"file has {_format_bytes(total_size)}: it is truncated"
        )
    raise NotAMeshError(
        f"binary STL declares {declared:,} triangles ({_format_bytes(expected)}) but the "
        f"file has {_format_bytes(total_size)}: its triangle count is wrong or it has "
        "extra data at the end"
    )


def _claimed(fmt: MeshFormat, ext: str) -> MeshFormat:
    """Return `fmt`, logging when the file's name claims a different format."""
    if ext and ext != extension_for(fmt):
        log.warning("file content is %s but its name ends in %r; trusting the content", fmt, ext)
    return fmt


_MODEL_PART = re.compile(r"^/?3d/[^/]+\.model$", re.IGNORECASE)


def check_3mf_container(path: Path) -> None:
    """Check that a ZIP file is a 3MF package worth opening, before anything is inflated.

    Why: trimesh reads any ZIP and inflates all of it into memory; this looks only at the
    ZIP's table of contents and refuses:
    - a damaged or cut archive (TruncatedMeshError);
    - a ZIP without a `3D/*.model` part, with encrypted parts, or with a compression
      method other than stored/deflated (NotAMeshError);
    - more than `MAX_3MF_MEMBERS` parts, a part that claims a compression ratio above
      `MAX_3MF_COMPRESSION_RATIO`, or parts that would inflate beyond
      `MAX_3MF_UNCOMPRESSED_BYTES` in total (MeshTooLargeError).
    Declared sizes can lie, but Python's zipfile stops inflating a part at its declared
    size (and fails its CRC), so the declared total is a real bound on memory.
    """
    with Path(path).open("rb") as f:  # a missing or unreadable file is not the file's fault
        try:
            with zipfile.ZipFile(f) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            # OSError here is a seek to an offset the damaged directory points at;
            # NotImplementedError a ZIP "version needed" from the future (a damaged field)
            raise TruncatedMeshError(
                "the 3MF file is a damaged or truncated ZIP archive (its table of contents cannot be read)"
            ) from exc
    if len(infos) > MAX_3MF_MEMBERS:
        raise MeshTooLargeError(
            f"the 3MF archive has {len(infos):,} parts, more than the {MAX_3MF_MEMBERS:,} cofab accepts"
        )
    if not any(_MODEL_PART.match(info.filename) for info in infos):
        raise NotAMeshError("the file is a ZIP archive without a 3D/*.model part, not a 3MF mesh")
    if any(info.flag_bits & 0x1 for info in infos):
        raise NotAMeshError("the 3MF archive has encrypted parts, which cofab cannot read")
    odd = sorted({info.compress_type for info in infos} - _3MF_COMPRESSIONS)
    if odd:
        raise NotAMeshError(
            f"the 3MF archive uses ZIP compression method {odd[0]}; 3MF allows only stored and deflated parts"
        )
    for info in infos:
        if info.file_size >= _RATIO_CHECK_MIN_BYTES and (
            info.file_size > MAX_3MF_COMPRESSION_RATIO * max(info.compress_size, 1)
        ):
            raise MeshTooLargeError(
                f"the 3MF part {info.filename!r} claims to inflate {info.compress_size:,} "
                f"bytes into {info.file_size:,} (over {MAX_3MF_COMPRESSION_RATIO}x): "
                "refused as a likely zip bomb"
            )
    inflated = sum(info.file_size for info in infos)
    if inflated > MAX_3MF_UNCOMPRESSED_BYTES:
        raise MeshTooLargeError(
            f"the 3MF archive would inflate to {_format_bytes(inflated)}, more than the "
            f"{_format_bytes(MAX_3MF_UNCOMPRESSED_BYTES)} cofab accepts"
        )


def sniff_file(path: Path, filename: str | None = None) -> MeshFormat:
    """Sniff the format of the file at `path` (reads `SNIFF_BYTES`; for a 3MF, also the
    ZIP table of contents).

    filename: the name the file was uploaded as, if `path` is a storage name (content hash);
    defaults to `path.name`. Raises like `sniff_format` and `check_3mf_container`.
    """
    return sniff_path(path, filename, sniff_format)


def sniff_path(path: Path, filename: str | None, sniff: Callable[[bytes, int, str], _Sniffed]) -> _Sniffed:
    """Run `sniff` on the head and size of the file at `path`, then check a 3MF's ZIP table
    of contents: what `sniff_file` and `designs.sniffing.sniff_any_file` both do, so the two
    read files and vet containers the same way."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        total_size = f.seek(0, 2)
    fmt = sniff(head, total_size, filename if filename is not None else path.name)
    if fmt is MeshFormat.THREEMF:
        check_3mf_container(path)
    return fmt
