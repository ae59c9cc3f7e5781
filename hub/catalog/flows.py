"""The catalog's multi-step state changes: a design with its first version, a new version,
a metadata change. Each checks lineage and ownership, writes its rows, refreshes the search
index and commits (a caller that must add rows in the same transaction passes
`commit=False`). Reads and checks are in `hub.catalog.service`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from hub.auth.service import Principal
from hub.catalog import lineage, search
from hub.catalog.models import Design, DesignFile, DesignMaterial, DesignRemix, DesignTag, DesignVersion
from hub.catalog.schemas import DesignMeta, DesignUpdate
from hub.catalog.service import PartSpec, may_use
from hub.errors import Forbidden, NotFound
from hub.ids import new_id
from hub.timeutil import now

log = logging.getLogger(__name__)


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
    if not may_use(caller, design.owner_token_id):
        raise Forbidden(f"only the designer who published {design_id} (or an admin) may change it")
    return design


def _set_terms(session: Session, design: Design) -> None:
    """Rewrite the tag and material rows search filters on."""
    session.execute(delete(DesignTag).where(col(DesignTag.design_id) == design.id))
    session.execute(delete(DesignMaterial).where(col(DesignMaterial.design_id) == design.id))
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
    assert version.id is not None  # the flush inserted it
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
            x, y, z = [*values, 0.0, 0.0, 0.0][:3]
            return (x, y, z)
    return (float(analysis.get("width_mm") or 0.0), float(analysis.get("height_mm") or 0.0), 0.0)


def _verdict(analysis: dict[str, Any]) -> str | None:
    verdict = analysis.get("verdict")
    if isinstance(verdict, dict):
        verdict = verdict.get("verdict") or verdict.get("value")
    return str(verdict)[:16] if verdict is not None else None
