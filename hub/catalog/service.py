"""The catalogue's logic: designs, immutable versions of parts, staged uploads, metadata.

Services take a `Session` and never import FastAPI; they raise `hub.errors` types, which
`create_app` turns into 403/404/422. Files reach a design through `hub.catalog.ingest` (streamed,
analysed, committed to the content store) and then as rows here; a version's rows are written
once and never updated.

For other domains:
- `current_parts(session, design_id)`: the latest version's parts (`DesignFile` rows, each
  with `quantity`), what an order makes;
- `hub.catalog.lineage.attribution_chain` and `hub.catalog.licences.licence_terms`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.catalog import lineage, search
from hub.catalog.ingest import Ingested
from hub.catalog.licences import licence_terms
from hub.catalog.models import (
    Design,
    DesignFile,
    DesignMaterial,
    DesignRemix,
    DesignTag,
    DesignVersion,
    FileDerivative,
    Upload,
)
from hub.catalog.schemas import (
    AttributionPublic,
    DerivedPublic,
    DesignFilePublic,
    DesignMeta,
    DesignPublic,
    DesignUpdate,
    LicencePublic,
    PartRef,
    UploadPublic,
    VersionPublic,
    VersionSummary,
)
from hub.errors import Forbidden, NotFound, Rejected
from hub.files import holds
from hub.files.store import FileStore
from hub.ids import new_id
from hub.timeutil import now

log = logging.getLogger(__name__)


class DesignRejected(Rejected):
    """The request cannot become (part of) a design; the message says why (422)."""


@dataclass(frozen=True)
class PartSpec:
    """A stored, analysed file about to become a part of a version."""

    filename: str
    sha256: str
    size_bytes: int
    kind: str
    format: str
    analysis: dict[str, Any]
    quantity: int = 1
    name: str = ""

    @classmethod
    def from_ingested(cls, item: Ingested, *, quantity: int = 1, name: str = "") -> PartSpec:
        return cls(item.filename, item.sha256, item.size_bytes, item.kind, item.format, item.analysis, quantity, name)


# --- uploads -------------------------------------------------------------------------------


def derived_kinds(session: Session, sha256: str) -> set[str]:
    return set(session.exec(select(FileDerivative.kind).where(FileDerivative.source_sha256 == sha256)))


def record_derived(session: Session, item: Ingested) -> None:
    """Link the derived files of `item` to its content (once per kind; a concurrent upload of
    the same bytes may have linked them first, which is fine)."""
    for piece in item.derived:
        try:
            with session.begin_nested():
                session.add(
                    FileDerivative(
                        source_sha256=item.sha256,
                        kind=piece.kind,
                        sha256=piece.sha256,
                        size_bytes=piece.size_bytes,
                        media_type=piece.media_type,
                        detail=piece.detail,
                        created_at=now(),
                    )
                )
        except IntegrityError:
            log.info("derived file already linked", extra={"sha256": item.sha256, "kind": piece.kind})


def record_upload(session: Session, owner: Principal, item: Ingested, *, ttl_s: float) -> UploadPublic:
    t = now()
    upload = Upload(
        id=new_id("u"),
        owner_token_id=owner.token_id,
        filename=item.filename,
        sha256=item.sha256,
        size_bytes=item.size_bytes,
        kind=item.kind,
        format=item.format,
        analysis=item.analysis,
        created_at=t,
        expires_at=t + ttl_s,
    )
    session.add(upload)
    record_derived(session, item)
    session.commit()
    return UploadPublic(
        id=upload.id,
        filename=upload.filename,
        sha256=upload.sha256,
        size_bytes=upload.size_bytes,
        kind=upload.kind,
        format=upload.format,
        analysis=upload.analysis,
        derived=_derived_public(session, [upload.sha256]).get(upload.sha256, []),
        expires_at=upload.expires_at,
    )


def parts_from_uploads(session: Session, caller: Principal, refs: Sequence[PartRef]) -> list[PartSpec]:
    """Resolve part references to the caller's own, unexpired uploads.

    Their content is held first (`hub.files.holds`) until the transaction ends: an expiry purge
    either finished before the uploads are read here (they are gone: refused) or waits for the
    parts made from them to be committed, which then keep the content."""
    ids = [r.upload_id for r in refs]
    holds.hold_shared(session, session.exec(select(Upload.sha256).where(Upload.id.in_(ids))).all())
    uploads = {u.id: u for u in session.exec(select(Upload).where(Upload.id.in_(ids)))}
    t = now()
    parts = []
    for ref in refs:
        upload = uploads.get(ref.upload_id)
        if upload is None or upload.expires_at < t or not _may_use(caller, upload.owner_token_id):
            raise DesignRejected(f"no upload {ref.upload_id!r} of yours (uploads expire a day after upload)")
        parts.append(
            PartSpec(
                upload.filename,
                upload.sha256,
                upload.size_bytes,
                upload.kind,
                upload.format,
                upload.analysis,
                ref.quantity,
                ref.name,
            )
        )
    return parts


def uploads_by_name(session: Session, caller: Principal, upload_ids: Sequence[str]) -> dict[str, Upload]:
    """The caller's unexpired uploads by file name (OKH import matches manifest paths to them)."""
    refs = [PartRef(upload_id=u) for u in upload_ids]
    parts = parts_from_uploads(session, caller, refs)
    rows = {u.id: u for u in session.exec(select(Upload).where(Upload.id.in_(list(upload_ids))))}
    by_name: dict[str, Upload] = {}
    for ref, _part in zip(refs, parts):
        upload = rows[ref.upload_id]
        if upload.filename in by_name and by_name[upload.filename].id != upload.id:
            raise DesignRejected(f"two uploads are named {upload.filename!r}; names must be unique")
        by_name[upload.filename] = upload
    return by_name


def forget_new_objects(session: Session, store: FileStore, item: Ingested) -> list[str]:
    """After the transaction recording `item` failed (and was rolled back): delete the objects
    its upload added to the store, unless a row refers to one (a concurrent upload of the
    same bytes that committed). Returns the hashes removed.

    The objects are held exclusively first (`hub.files.holds`): an upload of the same bytes
    still in flight has found them in the store and will record rows for them, so this waits
    for its transaction and then sees those rows. It blocks, so call it off the event loop.
    If the references cannot be read (the database is down) or the wait is too long, nothing is
    removed: a stray object wastes disk, a missing one would break a design."""
    if not item.new_objects:
        return []
    removed = []
    try:
        try:
            holds.hold_exclusive(session, item.new_objects)
            for sha in item.new_objects:
                if _referenced(session, sha):
                    continue
                store.remove(sha)
                removed.append(sha)
        finally:
            session.rollback()  # nothing was written: this only ends the transaction and its holds
    except Exception:
        log.exception(
            "could not check the references of a failed upload's files (or other uploads held them "
            "too long); they stay in the store",
            extra={"sha256": item.sha256, "objects": [s for s in item.new_objects if s not in removed]},
        )
    if removed:
        log.warning(
            "database commit failed; removed the upload's new files", extra={"sha256": item.sha256, "objects": removed}
        )
    return removed


def _referenced(session: Session, sha256: str) -> bool:
    """Whether a row needs this content: a part, a staged upload, or a derived-file link naming
    it as the derived file. The one check before any object leaves the store.

    A content's own derived-file links (as their source) do not count: they are written in the
    transaction that writes its part or upload, and are purged with the last of those."""
    queries = (
        select(DesignFile.id).where(DesignFile.sha256 == sha256),
        select(Upload.id).where(Upload.sha256 == sha256),
        select(FileDerivative.kind).where(FileDerivative.sha256 == sha256),
    )
    return any(session.exec(q.limit(1)).first() is not None for q in queries)


# Expired uploads purged per transaction. On PostgreSQL a batch holds an advisory lock per
# object (up to four per upload), in a lock table all connections share: by default 64 slots
# per allowed connection, so a day's worth of uploads in one transaction could exhaust it.
PURGE_BATCH = 50


def purge_expired_uploads(session: Session, store: FileStore) -> int:
    """Forget expired uploads, and delete their bytes (and derived files) when nothing else
    refers to that content. Returns how many uploads were forgotten.

    Works in batches, each its own transaction, in upload id order. Every object a batch may
    delete is held exclusively first (`hub.files.holds`), before any row is touched, so no
    upload can find it while it goes. The purge never waits for a hold: content that another
    transaction holds (an upload of the same bytes in flight, a design being made from the
    upload, another replica's purge) is skipped, its uploads too, and purged on a later run,
    when its rows say whether it is still needed. Replicas may purge at once."""
    cutoff = now()
    forgotten = 0
    after = ""
    while True:
        batch = list(
            session.exec(
                select(Upload.id, Upload.sha256)
                .where(Upload.expires_at < cutoff, Upload.id > after)
                .order_by(Upload.id)
                .limit(PURGE_BATCH)
            )
        )
        if not batch:
            return forgotten
        after = batch[-1][0]  # skipped uploads stay behind: the next batch starts past them
        forgotten += _purge_batch(session, store, batch)


def _purge_batch(session: Session, store: FileStore, expired: list[tuple[str, str]]) -> int:
    uploads_of: dict[str, list[str]] = {}
    for upload_id, sha in expired:
        uploads_of.setdefault(sha, []).append(upload_id)
    derived_of: dict[str, set[str]] = {}
    for source, sha in session.exec(
        select(FileDerivative.source_sha256, FileDerivative.sha256).where(
            FileDerivative.source_sha256.in_(list(uploads_of))
        )
    ):
        derived_of.setdefault(source, set()).add(sha)
    held: set[str] = set()
    skipped: list[str] = []
    for sha in sorted(uploads_of):
        wanted = ({sha} | derived_of.get(sha, set())) - held
        if holds.try_hold_exclusive(session, wanted):
            held |= wanted
        else:
            skipped.append(sha)
    sources = [sha for sha in sorted(uploads_of) if sha not in skipped]
    forgotten = 0
    if sources:
        ids = [upload_id for sha in sources for upload_id in uploads_of[sha]]
        forgotten = session.execute(
            delete(Upload).where(Upload.id.in_(ids)), execution_options={"synchronize_session": False}
        ).rowcount
    removed = []
    for sha in sources:
        if _referenced(session, sha):
            continue
        links = list(session.exec(select(FileDerivative).where(FileDerivative.source_sha256 == sha)))
        for link in links:
            session.delete(link)
        session.flush()
        # a derived file may be another content's derived file too, or uploaded in its own right;
        # one linked after the hold was taken is not held, and stays
        for link in links:
            if link.sha256 in held and not _referenced(session, link.sha256):
                store.remove(link.sha256)
                removed.append(link.sha256)
        store.remove(sha)
        removed.append(sha)
    session.commit()  # the holds end only now, so no upload can have found these objects meanwhile
    if removed:
        log.info("expired uploads' files removed", extra={"uploads": forgotten, "objects": removed})
    if skipped:
        log.info(
            "expired uploads' content held by another transaction; left for a later purge",
            extra={"uploads": sum(len(uploads_of[sha]) for sha in skipped), "objects": skipped},
        )
    return forgotten


def _may_use(caller: Principal, owner_token_id: int) -> bool:
    return caller.role is Role.ADMIN or caller.token_id == owner_token_id


# --- designs and versions ------------------------------------------------------------------


def create_design(
    session: Session,
    *,
    meta: DesignMeta,
    parts: Sequence[PartSpec],
    owner: Principal,
    authors: Sequence[str] | None = None,
    label: str | None = None,
    note: str = "",
    source_repo: str | None = None,
    documentation_language: str = "en",
    commit: bool = True,
) -> Design:
    """A new design with version 1 made of `parts`.

    authors: the credited names, first author first; default: the publishing designer,
    then `meta.co_authors`. Raises LineageRejected for impossible lineage or licences.
    """
    credited = list(dict.fromkeys([*(authors or [owner.name]), *meta.co_authors]))
    design = Design(
        id=new_id("d"),
        title=meta.title,
        description=meta.description,
        licence=meta.licence,
        author=credited[0],
        co_authors=credited[1:],
        process=meta.process,
        materials=list(meta.materials),
        tags=list(meta.tags),
        owner_token_id=owner.token_id,
        source_repo=source_repo,
        documentation_language=documentation_language,
        created_at=now(),
    )
    parents = lineage.check_remix(session, licence=meta.licence, parent_ids=meta.remix_of)
    session.add(design)
    session.flush()
    for position, parent in enumerate(parents):
        session.add(DesignRemix(design_id=design.id, parent_id=parent, position=position))
    _set_terms(session, design)
    _add_version(session, design, parts, owner, label=label, note=note)
    search.index_designs(session, [design.id])
    if commit:
        session.commit()
    log.info("design published", extra={"design_id": design.id, "parts": len(parts), "remix_of": parents})
    return design


def check_lineage(session: Session, meta: DesignMeta) -> None:
    """Check a new design's `remix_of` before its file is received (raises LineageRejected)."""
    lineage.check_remix(session, licence=meta.licence, parent_ids=meta.remix_of)


def publish_version(
    session: Session,
    design_id: str,
    parts: Sequence[PartSpec],
    caller: Principal,
    *,
    label: str | None = None,
    note: str = "",
) -> DesignVersion:
    """Publish the next version of a design (its owner or an admin)."""
    design = _owned(session, design_id, caller, lock=True)
    version = _add_version(session, design, parts, caller, label=label, note=note)
    session.commit()
    log.info("version published", extra={"design_id": design.id, "version": version.number})
    return version


def update_design(session: Session, design_id: str, patch: DesignUpdate, caller: Principal) -> Design:
    """Change metadata; add co-authors and remix parents (checked like at creation)."""
    design = _owned(session, design_id, caller, lock=True)
    if patch.title is not None:
        design.title = patch.title
    if patch.description is not None:
        design.description = patch.description
    if patch.materials is not None:
        design.materials = patch.materials
    if patch.tags is not None:
        design.tags = patch.tags
    if patch.add_co_authors:
        design.co_authors = [
            a for a in dict.fromkeys([*design.co_authors, *patch.add_co_authors]) if a != design.author
        ]
    if patch.add_remix_of:
        parents = lineage.check_remix(
            session, licence=design.licence, parent_ids=patch.add_remix_of, design_id=design.id
        )
        existing = list(session.exec(select(DesignRemix).where(DesignRemix.design_id == design.id)))
        known = {r.parent_id for r in existing}
        position = max((r.position for r in existing), default=-1) + 1
        for parent in parents:
            if parent not in known:
                session.add(DesignRemix(design_id=design.id, parent_id=parent, position=position))
                position += 1
    design.updated_at = now()
    session.add(design)
    _set_terms(session, design)
    search.index_designs(session, [design.id])
    session.commit()
    return design


def _owned(session: Session, design_id: str, caller: Principal, *, lock: bool = False) -> Design:
    design = session.get(Design, design_id, with_for_update=lock)
    if design is None:
        raise NotFound(f"no design {design_id!r}")
    if not _may_use(caller, design.owner_token_id):
        raise Forbidden(f"only the designer who published {design_id} (or an admin) may change it")
    return design


def _set_terms(session: Session, design: Design) -> None:
    """Rewrite the tag and material rows search filters on."""
    session.execute(delete(DesignTag).where(DesignTag.design_id == design.id))
    session.execute(delete(DesignMaterial).where(DesignMaterial.design_id == design.id))
    for tag in dict.fromkeys(t.casefold()[:64] for t in design.tags):
        session.add(DesignTag(design_id=design.id, tag=tag))
    for material in dict.fromkeys(m.casefold()[:64] for m in design.materials):
        session.add(DesignMaterial(design_id=design.id, material=material))
    session.flush()


def _add_version(
    session: Session, design: Design, parts: Sequence[PartSpec], publisher: Principal, *, label: str | None, note: str
) -> DesignVersion:
    number = design.latest_version + 1
    t = now()
    version = DesignVersion(
        design_id=design.id,
        number=number,
        label=(label or str(number))[:64],
        note=note,
        published_by_token_id=publisher.token_id,
        created_at=t,
    )
    session.add(version)
    session.flush()
    extents = []
    for part in parts:
        row = _file_row(design.id, version.id, part, t)
        extents.append(sorted((row.size_x_mm, row.size_y_mm, row.size_z_mm)))
        session.add(row)
    design.latest_version = number
    design.updated_at = t
    if extents:
        design.fit_small_mm, design.fit_mid_mm, design.fit_large_mm = (max(c) for c in zip(*extents))
    else:
        design.fit_small_mm = design.fit_mid_mm = design.fit_large_mm = None
    session.add(design)
    session.flush()
    return version


def _file_row(design_id: str, version_id: int, part: PartSpec, t: float) -> DesignFile:
    a = part.analysis
    size = _extents(a)
    mesh = part.kind == "mesh"
    return DesignFile(
        design_id=design_id,
        version_id=version_id,
        part_name=part.name or part.filename,
        quantity=part.quantity,
        filename=part.filename,
        sha256=part.sha256,
        size_bytes=part.size_bytes,
        kind=part.kind,
        format=part.format,
        faces=a.get("faces") if mesh else None,
        vertices=a.get("vertices") if mesh else None,
        watertight=a.get("watertight") if mesh else None,
        volume_mm3=a.get("volume") if mesh else None,
        size_x_mm=size[0],
        size_y_mm=size[1],
        size_z_mm=size[2],
        verdict=_verdict(a),
        analysis=a,
        created_at=t,
    )


def _extents(analysis: dict[str, Any]) -> tuple[float, float, float]:
    """Bounding-box size in mm from a mesh or outline analysis (an outline is flat: z = 0)."""
    for key in ("bbox_extents", "extents", "size_mm"):
        value = analysis.get(key)
        if value:
            values = [float(v or 0.0) for v in value][:3]
            return tuple(values + [0.0] * (3 - len(values)))  # type: ignore[return-value]
    return (float(analysis.get("width_mm") or 0.0), float(analysis.get("height_mm") or 0.0), 0.0)


def _verdict(analysis: dict[str, Any]) -> str | None:
    verdict = analysis.get("verdict")
    if isinstance(verdict, dict):
        verdict = verdict.get("verdict") or verdict.get("value")
    return str(verdict)[:16] if verdict is not None else None


# --- reading -------------------------------------------------------------------------------


def current_parts(session: Session, design_id: str) -> list[DesignFile]:
    """The latest version's parts, in the order published; each row has `quantity` (copies
    per design) and the size, hash and name a job needs. [] for an unknown design."""
    design = session.get(Design, design_id)
    if design is None or design.latest_version < 1:
        return []
    return version_files(session, design_id, design.latest_version)


def version_files(session: Session, design_id: str, number: int) -> list[DesignFile]:
    query = (
        select(DesignFile)
        .join(DesignVersion, DesignVersion.id == DesignFile.version_id)
        .where(DesignVersion.design_id == design_id, DesignVersion.number == number)
        .order_by(DesignFile.id)
    )
    return list(session.exec(query))


def _derived_public(session: Session, shas: Iterable[str]) -> dict[str, list[DerivedPublic]]:
    shas = list(set(shas))
    out: dict[str, list[DerivedPublic]] = {}
    if not shas:
        return out
    for d in session.exec(
        select(FileDerivative).where(FileDerivative.source_sha256.in_(shas)).order_by(FileDerivative.kind)
    ):
        out.setdefault(d.source_sha256, []).append(
            DerivedPublic(
                kind=d.kind, sha256=d.sha256, size_bytes=d.size_bytes, media_type=d.media_type, detail=d.detail
            )
        )
    return out


def _files_public(session: Session, design_id: str, number: int, files: list[DesignFile]) -> list[DesignFilePublic]:
    derived = _derived_public(session, (f.sha256 for f in files))
    out = []
    for f in files:
        kinds = {d.kind: d for d in derived.get(f.sha256, [])}
        base = f"/api/v1/designs/{design_id}/versions/{number}/files/{f.id}"
        out.append(
            DesignFilePublic(
                id=f.id,
                part_name=f.part_name,
                quantity=f.quantity,
                filename=f.filename,
                sha256=f.sha256,
                size_bytes=f.size_bytes,
                kind=f.kind,
                format=f.format,
                faces=f.faces,
                vertices=f.vertices,
                watertight=f.watertight,
                volume_mm3=f.volume_mm3,
                size_mm=(f.size_x_mm, f.size_y_mm, f.size_z_mm),
                verdict=f.verdict,
                analysis=f.analysis,
                repaired=kinds.get("repaired"),
                thumbnail_url=f"{base}/thumbnail.png" if "thumbnail" in kinds else None,
                viewer_url=f"{base}/viewer.glb" if "viewer" in kinds else None,
            )
        )
    return out


def licence_public(spdx_id: str) -> LicencePublic:
    t = licence_terms(spdx_id)
    return LicencePublic(
        id=t.id,
        name=t.name,
        kind=t.kind,
        commercial_use_allowed=t.commercial_use_allowed,
        share_alike=t.share_alike,
        no_derivatives=t.no_derivatives,
    )


def design_public(session: Session, design_id: str) -> DesignPublic | None:
    design = session.get(Design, design_id)
    if design is None:
        return None
    versions = list(
        session.exec(select(DesignVersion).where(DesignVersion.design_id == design_id).order_by(DesignVersion.number))
    )
    files = version_files(session, design_id, design.latest_version) if design.latest_version else []
    parents = list(
        session.exec(
            select(DesignRemix.parent_id).where(DesignRemix.design_id == design_id).order_by(DesignRemix.position)
        )
    )
    chain = lineage.attribution_chain(session, design_id)
    return DesignPublic(
        id=design.id,
        title=design.title,
        description=design.description,
        licence=design.licence,
        licence_terms=licence_public(design.licence),
        author=design.author,
        authors=lineage.authors_of(design),
        process=design.process,
        materials=design.materials,
        tags=design.tags,
        created_at=design.created_at,
        updated_at=design.updated_at,
        latest_version=design.latest_version,
        versions=[
            VersionSummary(number=v.number, label=v.label, note=v.note, created_at=v.created_at) for v in versions
        ],
        files=_files_public(session, design.id, design.latest_version, files),
        remix_of=parents,
        attribution=[
            AttributionPublic(design_id=a.design_id, title=a.title, authors=a.authors, licence=a.licence, depth=a.depth)
            for a in chain
        ],
    )


def version_public(session: Session, design_id: str, number: int) -> VersionPublic | None:
    version = session.exec(
        select(DesignVersion).where(DesignVersion.design_id == design_id, DesignVersion.number == number)
    ).first()
    if version is None:
        return None
    files = version_files(session, design_id, number)
    return VersionPublic(
        design_id=design_id,
        number=version.number,
        label=version.label,
        note=version.note,
        created_at=version.created_at,
        files=_files_public(session, design_id, number, files),
    )


def derived_file(session: Session, design_id: str, number: int, file_id: int, kind: str) -> FileDerivative:
    """The `kind` derived file of one part of one version, or NotFound."""
    row = session.exec(
        select(DesignFile)
        .join(DesignVersion, DesignVersion.id == DesignFile.version_id)
        .where(DesignFile.id == file_id, DesignVersion.design_id == design_id, DesignVersion.number == number)
    ).first()
    if row is None:
        raise NotFound(f"no file {file_id} in version {number} of design {design_id!r}")
    derived = session.exec(
        select(FileDerivative).where(FileDerivative.source_sha256 == row.sha256, FileDerivative.kind == kind)
    ).first()
    if derived is None:
        raise NotFound(f"file {file_id} has no {kind} (it is not a mesh, or it could not be made)")
    return derived


def remixes_public(session: Session, design_id: str, *, limit: int, offset: int):
    if session.get(Design, design_id) is None:
        raise NotFound(f"no design {design_id!r}")
    return [search.summary(d) for d in lineage.remixes_of(session, design_id, limit=limit, offset=offset)]
