"""The catalog's reads and simple writes: designs, versions and their parts as the API shows
them, staged uploads resolved into parts, remix checks.

Services take a `Session` and never import FastAPI; they raise `hub.errors` types, which
`create_app` turns into 403/404/422. The catalog folder follows the hub's domain pattern:
- here, reads and checks;
- `hub.catalog.flows`: the multi-step state changes (a design with its first version, a new
  version, a metadata change);
- `hub.catalog.uploads`: staged uploads recorded, and their bytes cleaned up when a commit
  fails or they expire;
- `hub.catalog.ingest`: files streamed, analysed and committed to the content store.
A version's rows are written once and never updated.

For other domains:
- `current_parts(session, design_id)`: the latest version's parts (`DesignFile` rows, each
  with `quantity`), what an order makes;
- `hub.catalog.lineage.attribution_chain` and `hub.catalog.licences.licence_terms`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.catalog import lineage, search
from hub.catalog.ingest import AnalysedFile, analysed_fields
from hub.catalog.licences import licence_terms
from hub.catalog.models import (
    Design,
    DesignFile,
    DesignRemix,
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
    LicencePublic,
    PartRef,
    VersionPublic,
    VersionSummary,
)
from hub.errors import NotFound, Rejected
from hub.files import holds
from hub.timeutil import now


class DesignRejected(Rejected):
    """The request cannot become (part of) a design; the message says why (422)."""


@dataclass(frozen=True)
class PartSpec(AnalysedFile):
    """A stored, analysed file about to become a part of a version."""

    quantity: int = 1
    name: str = ""

    @classmethod
    def from_stored(cls, item: AnalysedFile | Upload, *, quantity: int = 1, name: str = "") -> PartSpec:
        """A part made of a file just ingested or of a staged upload's row."""
        return cls(**analysed_fields(item), quantity=quantity, name=name)


def may_use(caller: Principal, owner_token_id: int) -> bool:
    return caller.role is Role.ADMIN or caller.token_id == owner_token_id


def derived_kinds(session: Session, sha256: str) -> set[str]:
    return set(session.exec(select(FileDerivative.kind).where(FileDerivative.source_sha256 == sha256)))


def parts_from_uploads(session: Session, caller: Principal, refs: Sequence[PartRef]) -> list[PartSpec]:
    """Resolve part references to the caller's own, unexpired uploads.

    Their content is held first (`hub.files.holds`) until the transaction ends: an expiry purge
    either finished before the uploads are read here (they are gone: refused) or waits for the
    parts made from them to be committed, which then keep the content."""
    ids = [r.upload_id for r in refs]
    holds.hold_shared(session, session.exec(select(Upload.sha256).where(col(Upload.id).in_(ids))).all())
    uploads = {u.id: u for u in session.exec(select(Upload).where(col(Upload.id).in_(ids)))}
    t = now()
    parts = []
    for ref in refs:
        upload = uploads.get(ref.upload_id)
        if upload is None or upload.expires_at < t or not may_use(caller, upload.owner_token_id):
            raise DesignRejected(f"no upload {ref.upload_id!r} of yours (uploads expire a day after upload)")
        parts.append(PartSpec.from_stored(upload, quantity=ref.quantity, name=ref.name))
    return parts


def uploads_by_name(session: Session, caller: Principal, upload_ids: Sequence[str]) -> dict[str, Upload]:
    """The caller's unexpired uploads by file name (OKH import matches manifest paths to them)."""
    refs = [PartRef(upload_id=u) for u in upload_ids]
    parts = parts_from_uploads(session, caller, refs)
    rows = {u.id: u for u in session.exec(select(Upload).where(col(Upload.id).in_(list(upload_ids))))}
    by_name: dict[str, Upload] = {}
    for ref, _part in zip(refs, parts):
        upload = rows[ref.upload_id]
        if upload.filename in by_name and by_name[upload.filename].id != upload.id:
            raise DesignRejected(f"two uploads are named {upload.filename!r}; names must be unique")
        by_name[upload.filename] = upload
    return by_name


def check_lineage(session: Session, meta: DesignMeta) -> None:
    """Check a new design's `remix_of` before its file is received (raises LineageRejected)."""
    lineage.check_remix(session, licence=meta.licence, parent_ids=meta.remix_of)


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
        .join(DesignVersion, col(DesignVersion.id) == DesignFile.version_id)
        .where(DesignVersion.design_id == design_id, DesignVersion.number == number)
        .order_by(col(DesignFile.id))
    )
    return list(session.exec(query))


def derived_public(session: Session, shas: Iterable[str]) -> dict[str, list[DerivedPublic]]:
    shas = list(set(shas))
    out: dict[str, list[DerivedPublic]] = {}
    if not shas:
        return out
    for d in session.exec(
        select(FileDerivative).where(col(FileDerivative.source_sha256).in_(shas)).order_by(FileDerivative.kind)
    ):
        out.setdefault(d.source_sha256, []).append(DerivedPublic.model_validate(d, from_attributes=True))
    return out


def _files_public(session: Session, design_id: str, number: int, files: list[DesignFile]) -> list[DesignFilePublic]:
    derived = derived_public(session, (f.sha256 for f in files))
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
    return LicencePublic.model_validate(licence_terms(spdx_id), from_attributes=True)


def design_public(session: Session, design_id: str) -> DesignPublic | None:
    design = session.get(Design, design_id)
    if design is None:
        return None
    versions = list(
        session.exec(
            select(DesignVersion).where(DesignVersion.design_id == design_id).order_by(col(DesignVersion.number))
        )
    )
    files = version_files(session, design_id, design.latest_version) if design.latest_version else []
    parents = list(
        session.exec(
            select(DesignRemix.parent_id).where(DesignRemix.design_id == design_id).order_by(col(DesignRemix.position))
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
        .join(DesignVersion, col(DesignVersion.id) == DesignFile.version_id)
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
