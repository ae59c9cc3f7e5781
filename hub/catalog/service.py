"""Publishing designs: a file is staged, sniffed, analysed, and only then committed.

Analysis runs on the staged copy, so a refused file never reaches the store or the database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

import designs
from hub.auth.service import Principal
from hub.catalog.models import Design, DesignFile
from hub.catalog.schemas import DesignFilePublic, DesignMeta, DesignPublic
from hub.files.store import FileStore
from hub.ids import new_id
from hub.timeutil import now

log = logging.getLogger(__name__)


class DesignRejected(ValueError):
    """The uploaded file cannot become a design; the message says why."""


async def publish_design(
    session: Session,
    store: FileStore,
    *,
    meta: DesignMeta,
    filename: str,
    body: AsyncIterator[bytes],
    author: Principal,
    max_bytes: int,
) -> DesignPublic:
    try:
        safe_name = designs.check_filename(filename)
    except designs.DesignFileError as exc:
        raise DesignRejected(str(exc)) from None
    staged = await store.stage(body, max_bytes=max_bytes)
    try:
        fmt = designs.sniff_format(staged.head, staged.size, safe_name)
        analysis = await run_in_threadpool(designs.analyze_mesh, staged.path, fmt)
    except designs.DesignFileError as exc:
        store.discard(staged)
        raise DesignRejected(str(exc)) from None
    except BaseException:
        store.discard(staged)
        raise

    design = Design(id=new_id("d"), title=meta.title, description=meta.description, licence=meta.licence,
                    author=author.name, process=meta.process, materials=list(meta.materials),
                    owner_token_id=author.token_id, created_at=now())
    extents = [float(v) for v in analysis.bbox_extents]
    record = DesignFile(design_id=design.id, filename=safe_name, sha256=staged.sha256, size_bytes=staged.size,
                        format=str(fmt), faces=analysis.faces, vertices=analysis.vertices,
                        watertight=analysis.watertight, volume_mm3=analysis.volume,
                        size_x_mm=extents[0], size_y_mm=extents[1], size_z_mm=extents[2],
                        analysis=analysis.to_dict(), created_at=now())
    store.commit(staged)
    session.add(design)
    session.add(record)
    session.commit()
    log.info("design published", extra={"design_id": design.id, "sha256": staged.sha256, "faces": analysis.faces})
    return to_public(design, [record])


def to_public(design: Design, files: list[DesignFile]) -> DesignPublic:
    return DesignPublic(
        id=design.id, title=design.title, description=design.description, licence=design.licence,
        author=design.author, process=design.process, materials=design.materials, created_at=design.created_at,
        files=[DesignFilePublic(id=f.id, filename=f.filename, sha256=f.sha256, size_bytes=f.size_bytes,
                                format=f.format, faces=f.faces, vertices=f.vertices, watertight=f.watertight,
                                volume_mm3=f.volume_mm3, size_mm=(f.size_x_mm, f.size_y_mm, f.size_z_mm),
                                analysis=f.analysis) for f in files],
    )


def files_of(session: Session, design_id: str) -> list[DesignFile]:
    return list(session.exec(select(DesignFile).where(DesignFile.design_id == design_id).order_by(DesignFile.id)))


def get_design(session: Session, design_id: str) -> DesignPublic | None:
    design = session.get(Design, design_id)
    if design is None:
        return None
    return to_public(design, files_of(session, design_id))


def list_designs(session: Session, *, limit: int, offset: int) -> list[DesignPublic]:
    rows = session.exec(select(Design).order_by(Design.created_at.desc()).offset(offset).limit(limit)).all()
    return [to_public(d, files_of(session, d.id)) for d in rows]
