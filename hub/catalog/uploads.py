"""Staged uploads: recorded once a file is ingested, and their bytes taken back out of the
content store when nothing needs them (a failed commit, an upload past its expiry).

Every object is held (`hub.files.holds`) before it leaves the store, so an upload of the same
bytes in flight never loses the object it found; `_referenced` is the one check of whether a
row still needs an object.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.auth.service import Principal
from hub.catalog.ingest import Ingested, analysed_fields
from hub.catalog.models import DesignFile, FileDerivative, Upload
from hub.catalog.schemas import UploadPublic
from hub.catalog.service import derived_public
from hub.files import holds
from hub.files.store import FileStore
from hub.ids import new_id
from hub.timeutil import now

log = logging.getLogger(__name__)


def record_upload(session: Session, owner: Principal, item: Ingested, *, ttl_s: float) -> UploadPublic:
    t = now()
    upload = Upload(
        id=new_id("u"), owner_token_id=owner.token_id, **analysed_fields(item), created_at=t, expires_at=t + ttl_s
    )
    session.add(upload)
    record_derived(session, item)
    session.commit()
    return UploadPublic(
        id=upload.id,
        **analysed_fields(upload),
        derived=derived_public(session, [upload.sha256]).get(upload.sha256, []),
        expires_at=upload.expires_at,
    )


def record_derived(session: Session, item: Ingested) -> None:
    """Link the derived files of `item` to its content (once per kind; a concurrent upload of
    the same bytes may have linked them first, which is fine)."""
    for piece in item.derived:
        try:
            with session.begin_nested():
                session.add(FileDerivative(source_sha256=item.sha256, **asdict(piece), created_at=now()))
        except IntegrityError:
            log.info("derived file already linked", extra={"sha256": item.sha256, "kind": piece.kind})


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
            col(FileDerivative.source_sha256).in_(list(uploads_of))
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
        forgotten = session.exec(
            delete(Upload).where(col(Upload.id).in_(ids)), execution_options={"synchronize_session": False}
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
