"""Receive one design file: stream it to staging while hashing, sniff it, check the analysis
budget, analyse it, make its derived files, and only then commit it to the content store.

Every refusal happens before the commit and discards the staged bytes, so a corrupt or
hostile file leaves nothing behind (no object, no row). The heavy steps (mesh loading,
repair, thumbnail, viewer GLB) run in a child process under a memory cap and a time limit
(`hub.catalog.sandbox`), which writes the derived files into a work folder of the staging
area; they are the `designs` package's, the hub only decides what to keep. A derived file
that cannot be made (a renderer missing, a mesh too broken to repair) is logged and skipped:
it never costs the designer the upload.

`Ingested.new_objects` names the objects this upload added to the store, so the caller can
take them back out if its database transaction fails (`hub.catalog.uploads.forget_new_objects`).
Just before the first object goes into the store, `hold` is called with every hash the upload
is about to store or find there: the caller holds them until its transaction ends
(`hub.files.holds.hold_shared`), so another upload's clean-up cannot delete an object this one
found already stored and is about to record.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

import designs
from designs.formats import SNIFF_BYTES
from hub.catalog.config import CatalogSettings
from hub.catalog.sandbox import AnalysisLimits, AnalysisOverLimit, AnalysisRejected, run_limited
from hub.errors import Rejected, TooLarge
from hub.files.store import FileStore, StagedFile, stage_bytes_in

__all__ = ["AnalysedFile", "DerivedFile", "IngestRejected", "IngestTooLarge", "Ingested", "analysed_fields", "ingest"]

log = logging.getLogger(__name__)

_STL_HEADER = 84
_STL_RECORD = 50


class IngestRejected(Rejected):
    """The file cannot be accepted; the message says why (422)."""


class IngestTooLarge(TooLarge):
    """The file is past an analysis budget (413)."""


@dataclass(frozen=True)
class DerivedFile:
    kind: str
    sha256: str
    size_bytes: int
    media_type: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysedFile:
    """A file in the content store with its analysis: what an ingested file, a staged upload
    and a part of a version have in common."""

    filename: str
    sha256: str
    size_bytes: int
    kind: str
    format: str
    analysis: dict[str, Any]


ANALYSED_FIELDS = tuple(f.name for f in fields(AnalysedFile))


def analysed_fields(item: object) -> dict[str, Any]:
    """The `AnalysedFile` fields of anything that has them: an ingested file, a part, or the
    row of a staged upload."""
    return {name: getattr(item, name) for name in ANALYSED_FIELDS}


@dataclass(frozen=True)
class Ingested(AnalysedFile):
    """An accepted file, committed to the store, with its analysis and derived files."""

    derived: list[DerivedFile]
    new_objects: tuple[str, ...] = ()  # hashes this upload added to the store (not there before)


async def ingest(
    store: FileStore,
    body: AsyncIterator[bytes],
    *,
    filename: str,
    max_bytes: int,
    limits: CatalogSettings,
    analysis: AnalysisLimits,
    derived_for=None,
    hold: Callable[[Sequence[str]], None] | None = None,
) -> Ingested:
    """Stream `body` into the store as `filename`, or raise IngestRejected / UploadTooLarge.

    analysis: the memory cap and time limit of the analysing child process.
    derived_for: optional callable sha256 -> kinds of derived files already stored for that
    content, so a file uploaded again is not re-rendered.
    hold: optional callable taking the hashes of the file and its derived files, called before
    any of them is committed to the store (see the module's docstring).
    """
    try:
        safe_name = designs.check_filename(filename)
    except designs.DesignFileError as exc:
        raise IngestRejected(str(exc)) from None
    staged = await store.stage(body, max_bytes=max_bytes, head_bytes=SNIFF_BYTES)
    made: list[StagedFile] = []
    workdir = Path(tempfile.mkdtemp(dir=store.staging_dir, prefix="analysis-"))
    try:
        fmt, kind, result, outputs = await _analysed(staged, safe_name, limits, analysis, derived_for, workdir)
        derived = []
        for out_kind, media_type, piece, detail in outputs:
            made.append(piece)
            derived.append(DerivedFile(out_kind, piece.sha256, piece.size, media_type, detail))
        if hold is not None:
            # Off the event loop: a hold may wait for a clean-up, which on PostgreSQL may itself
            # wait for another upload that needs this loop to finish.
            await run_in_threadpool(hold, [staged.sha256, *(piece.sha256 for piece in made)])
        new_objects = [piece.sha256 for piece in (staged, *made) if store.commit(piece)]
    except BaseException:
        store.discard(staged)
        for piece in made:
            store.discard(piece)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Ingested(
        filename=safe_name,
        sha256=staged.sha256,
        size_bytes=staged.size,
        kind=kind,
        format=str(fmt),
        analysis=result,
        derived=derived,
        new_objects=tuple(new_objects),
    )


async def _analysed(
    staged: StagedFile,
    safe_name: str,
    limits: CatalogSettings,
    analysis: AnalysisLimits,
    derived_for: Callable[[str], Iterable[str]] | None,
    workdir: Path,
) -> tuple[Any, str, dict[str, Any], list[tuple[str, str, StagedFile, dict[str, Any]]]]:
    """Sniff the staged file's format, check its budget and analyse it in a limited child
    process: (format, kind, analysis, derived outputs). Every refusal becomes IngestRejected."""
    try:
        fmt = designs.sniff_any(staged.head, staged.size, safe_name)
        _check_budget(staged, fmt, limits)
        existing = frozenset(derived_for(staged.sha256)) if derived_for else frozenset()
        kind, result, outputs = await run_in_threadpool(
            run_limited,
            _analyse,
            staged.path,
            fmt,
            existing,
            workdir,
            limits=analysis,
            rejected=designs.DesignFileError,
        )
    except (designs.DesignFileError, AnalysisRejected, AnalysisOverLimit) as exc:
        raise IngestRejected(str(exc)) from None
    return fmt, kind, result, outputs


def _check_budget(staged: StagedFile, fmt, limits: CatalogSettings) -> None:
    """Refuse files whose analysis would need far more memory than a print could justify,
    from what is known without parsing: a binary STL's header, a text file's size, a 3MF's
    table of contents."""
    if fmt == designs.MeshFormat.STL_BINARY:
        faces = (staged.size - _STL_HEADER) // _STL_RECORD
        if faces > limits.max_faces:
            raise IngestTooLarge(
                f"the binary STL has {faces:,} triangles; the hub analyses at most "
                f"{limits.max_faces:,} (simplify or split the mesh)"
            )
    elif fmt in (designs.MeshFormat.STL_ASCII, designs.MeshFormat.OBJ):
        if staged.size > limits.max_text_mesh_bytes:
            raise IngestTooLarge(
                f"the {fmt} file has {staged.size:,} bytes; text meshes are analysed up to "
                f"{limits.max_text_mesh_bytes:,} bytes (export a binary STL or 3MF instead)"
            )
    elif fmt == designs.MeshFormat.THREEMF:
        try:
            with zipfile.ZipFile(staged.path) as archive:
                inflated = sum(info.file_size for info in archive.infolist())
        except zipfile.BadZipFile:
            return  # designs explains a damaged archive better
        if inflated > limits.max_text_mesh_bytes:
            raise IngestTooLarge(
                f"the 3MF archive inflates to {inflated:,} bytes; the hub analyses at most "
                f"{limits.max_text_mesh_bytes:,}"
            )


def _analyse(
    path: Path, fmt, existing: frozenset[str], workdir: Path
) -> tuple[str, dict, list[tuple[str, str, StagedFile, dict]]]:
    """In the analysis child: analysis and derived files, the latter written into `workdir`
    (so a child stopped half-way leaves its files where the hub removes them). Returns (kind,
    analysis, [(kind, media type, staged file, detail)]). DesignFileError propagates (the file
    is refused); anything else failing in a derived file is logged and skipped."""
    if not isinstance(fmt, designs.MeshFormat):
        outline = designs.load_outline(path, fmt)
        return "outline", outline.to_dict(), []
    analysis = designs.analyze_mesh(path, fmt)
    outputs: list[tuple[str, str, StagedFile, dict]] = []
    if "repaired" not in existing:
        repaired = _optional("repair", designs.repair_mesh, path, fmt)
        if repaired is not None:
            outputs.append(
                (
                    "repaired",
                    "model/stl",
                    stage_bytes_in(workdir, repaired.stl),
                    {"actions": list(repaired.actions), "analysis": repaired.analysis.to_dict()},
                )
            )
    if "thumbnail" not in existing:
        png = _optional("thumbnail", designs.render_thumbnail, path)
        if png:
            outputs.append(("thumbnail", "image/png", stage_bytes_in(workdir, png), {"size_px": 256}))
    if "viewer" not in existing:
        glb = _optional("viewer mesh", designs.viewer_mesh, path, fmt)
        if glb:
            outputs.append(("viewer", "model/gltf-binary", stage_bytes_in(workdir, glb), {}))
    return "mesh", analysis.to_dict(), outputs


def _optional(what: str, func, *args):
    try:
        return func(*args)
    except MemoryError:
        raise
    except Exception:
        log.warning("could not make the %s of an upload; continuing without it", what, exc_info=True)
        return None
