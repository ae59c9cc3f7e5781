"""Uploads that fail leave nothing behind (issue 3's bad-input rule), past the file checks too:
a failed database commit takes its new files back out of the store, expired staged uploads
are purged at start-up and periodically, and an analysis past its memory cap or time limit is
stopped with a clear 422 while the hub keeps serving.

Clean-up never deletes an object that an upload of the same bytes still in flight has found
in the store (`hub.files.holds`): the race tests below run two uploads' steps in threads, in
the one order that used to lose the object, and pause each side at the point that matters."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlmodel import Session

from cofab.devstack.samples import open_box, stl_bytes
from hub.app import create_app
from hub.auth.service import Principal, authenticate
from hub.catalog import flows, service, uploads
from hub.catalog.config import CatalogSettings
from hub.catalog.ingest import Ingested, ingest
from hub.catalog.models import Upload
from hub.catalog.sandbox import AnalysisLimits, AnalysisOverLimit, run_limited
from hub.catalog.schemas import DesignMeta, PartRef
from hub.files import holds
from hub.files.tokens import sign_download
from tests.factories import bearer, cube, publish_design, stage_upload
from tests.hub.catalog.conftest import stored


def _fail_inserts_into(api, table: str) -> None:
    """A real failing commit: the database itself refuses the INSERT (as a full disk or a lost
    connection would), after the file was analysed and moved into the store."""
    with api.app.state.services.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
            return
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql "
                "AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
            )
        )


@pytest.mark.parametrize("route", ["upload", "design"])
def test_failed_commit_removes_the_files_it_stored(api, tokens, route):
    _fail_inserts_into(api, "uploads" if route == "upload" else "designs")
    before = stored(api)
    with pytest.raises(Exception, match="refused by the test"):
        if route == "upload":
            stage_upload(api, tokens["designer"], cube(17))
        else:
            publish_design(api, tokens["designer"], cube(17))
    assert stored(api) == before  # neither the file nor its derived files, nor any row


def test_failed_commit_keeps_files_that_other_rows_use(api, tokens):
    kept = stage_upload(api, tokens["designer"], cube(18)).json()
    _fail_inserts_into(api, "designs")
    with pytest.raises(Exception, match="refused by the test"):
        publish_design(api, tokens["designer"], cube(18))  # the same bytes: the staged upload still needs them
    assert api.app.state.services.files.exists(kept["sha256"])


def _expire_all_uploads(api) -> None:
    with Session(api.app.state.services.engine) as session:
        session.exec(update(Upload).values(expires_at=time.time() - 1))
        session.commit()


def test_expired_uploads_are_purged_at_start_up(api, tokens, hub_settings):
    hub_settings.upload_purge_interval_s = 0  # only the start-up purge in this test
    before = stored(api)
    stage_upload(api, tokens["designer"], cube(19))
    assert stored(api)["uploads"] == before["uploads"] + 1
    _expire_all_uploads(api)
    with TestClient(create_app(hub_settings)) as restarted:
        assert stored(restarted) == before


def test_expired_uploads_are_purged_in_batches(api, tokens, monkeypatch):
    """Each batch is a transaction; content that an upload in a later batch also has stays
    until that batch."""
    monkeypatch.setattr(uploads, "PURGE_BATCH", 1)
    before = stored(api)
    for data in (cube(24), cube(24), cube(25)):
        stage_upload(api, tokens["designer"], data)
    _expire_all_uploads(api)
    with Session(api.app.state.services.engine) as session:
        assert uploads.purge_expired_uploads(session, api.app.state.services.files) == 3
    assert stored(api) == before


def test_expired_uploads_are_purged_periodically(api, tokens, hub_settings):
    hub_settings.upload_purge_interval_s = 0.05
    with TestClient(create_app(hub_settings)) as hub:
        before = stored(hub)
        stage_upload(hub, tokens["designer"], cube(21))
        _expire_all_uploads(hub)
        deadline = time.monotonic() + 30  # a bound for a stuck purger, not a timing claim
        while stored(hub) != before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(hub) == before


# --- the race between clean-up and an upload of the same bytes in flight ------------------


@pytest.fixture
def waiting() -> Iterator[threading.Event]:
    """Set when someone waits for objects another transaction holds (`hub.files.holds` logs
    it), so a test can let the holder go on exactly then rather than after a guessed delay."""
    seen = threading.Event()

    class _Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("waiting for objects held"):
                seen.set()

    logger, handler = logging.getLogger(holds.__name__), _Seen()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)
    logger.setLevel(level)


class _Steps:
    """Threads running one side of a race each; their errors are kept for the test."""

    def __init__(self) -> None:
        self.errors: dict[str, BaseException] = {}
        self._threads: list[threading.Thread] = []

    def start(self, name: str, func: Callable[[], None], *, then: threading.Event | None = None) -> None:
        def run() -> None:
            try:
                func()
            except BaseException as exc:
                self.errors[name] = exc
            finally:
                if then is not None:
                    then.set()

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=120)
            assert not thread.is_alive(), f"{thread.name} is stuck"


def _when_waiting(waiting: threading.Event, then: threading.Event) -> None:
    """Set `then` as soon as someone waits for a hold (or leave it to whoever else sets it)."""
    threading.Thread(target=lambda: waiting.wait(120) and then.set(), daemon=True).start()


def _ingest_held(api, session: Session, data: bytes) -> Ingested:
    """What the upload routes do before their rows: stream the file into the store, holding
    what it stores or finds until `session`'s transaction ends."""
    settings = api.app.state.services.settings

    async def body():
        yield data

    return asyncio.run(
        ingest(
            api.app.state.services.files,
            body(),
            filename="part.stl",
            max_bytes=settings.upload_max_bytes,
            limits=CatalogSettings(),
            analysis=AnalysisLimits(memory_mb=settings.analysis_max_memory_mb, timeout_s=settings.analysis_timeout_s),
            derived_for=lambda sha: service.derived_kinds(session, sha),
            hold=lambda hashes: holds.hold_shared(session, hashes),
        )
    )


@contextmanager
def _in_flight(
    api, token: str, data: bytes, *, found: threading.Event, go: threading.Event, seen: dict[str, object], name: str
) -> Iterator[tuple[Session, Principal, Ingested]]:
    """One upload of `data` in a thread, up to the point a race turns on: it has streamed the
    file into the store, holding what it stored or found (`seen[name]` is its `Ingested`),
    sets `found`, and goes on to its rows once `go` is set."""
    with Session(api.app.state.services.engine, expire_on_commit=False) as session:
        owner = authenticate(session, token)
        seen[name] = item = _ingest_held(api, session, data)
        found.set()
        assert go.wait(60)
        yield session, owner, item


def _downloadable(api, sha256: str) -> bytes:
    token, _ = sign_download(api.app.state.services.settings.secret_key, sha256, 60)
    response = api.get(f"/api/v1/files/{sha256}", params={"token": token})
    assert response.status_code == 200, f"{sha256} is gone from the store: {response.text}"
    return response.content


def test_failed_upload_keeps_an_object_another_upload_in_flight_found(api, tokens, waiting):
    """Upload A stores X; upload B of the same bytes finds X stored (adds nothing) and has not
    committed its rows yet; then A's database commit fails. A's clean-up sees no row for X:
    without the hold it deleted X and B committed a design whose file was missing."""
    services, data = api.app.state.services, cube(31)
    _fail_inserts_into(api, "uploads")  # A stages an upload (refused); B publishes a design
    a_stored, a_go, b_found, b_go, a_waits_or_done = (threading.Event() for _ in range(5))
    seen: dict[str, object] = {}

    def upload_a() -> None:
        upload = _in_flight(api, tokens["designer"], data, found=a_stored, go=a_go, seen=seen, name="a")
        with upload as (session, owner, item):
            try:
                uploads.record_upload(session, owner, item, ttl_s=3600)
            except Exception as exc:  # what `_recorded_or_removed` does in the routes
                seen["a_error"] = str(exc)
                session.rollback()
                seen["a_removed"] = uploads.forget_new_objects(session, services.files, item)

    def publish_b() -> None:
        upload = _in_flight(api, tokens["designer"], data, found=b_found, go=b_go, seen=seen, name="b")
        with upload as (session, owner, item):
            design = flows.create_design(
                session,
                meta=DesignMeta(title="B"),
                owner=owner,
                commit=False,
                parts=[service.PartSpec.from_stored(item)],
            )
            uploads.record_derived(session, item)
            session.commit()
            seen["design"] = design.id

    steps = _Steps()
    waiting.clear()
    steps.start("A", upload_a, then=a_waits_or_done)
    assert a_stored.wait(60), steps.errors
    steps.start("B", publish_b)
    assert b_found.wait(60), steps.errors
    sha = seen["a"].new_objects[0]  # A added the file (its first new object)
    assert sha not in seen["b"].new_objects  # B found it already stored
    _when_waiting(waiting, a_waits_or_done)
    a_go.set()  # A's commit fails now, while B holds X
    assert a_waits_or_done.wait(60), steps.errors  # A cleaned up (the old code) or waits for B
    b_go.set()
    steps.join()
    assert steps.errors == {}
    assert "refused by the test" in seen["a_error"]
    design = api.get(f"/api/v1/designs/{seen['design']}", headers=bearer(tokens["designer"])).json()
    (part,) = design["files"]
    assert part["sha256"] == sha
    assert _downloadable(api, sha) == data  # B's design is whole: its file
    assert sha not in seen["a_removed"]
    for url in (part["thumbnail_url"], part["viewer_url"], part["repaired"] and part["repaired"]["sha256"]):
        if url and url.startswith("/"):  # and its derived files, which A had stored first too
            assert api.get(url, headers=bearer(tokens["designer"])).status_code == 200, url
        elif url:
            _downloadable(api, url)
    assert not holds.LOCAL.held(sha)  # every hold ended with its transaction


def _purge(api) -> int:
    services = api.app.state.services
    with Session(services.engine) as session:
        return uploads.purge_expired_uploads(session, services.files)


def test_purge_keeps_an_object_an_upload_in_flight_found(api, tokens, waiting):
    """An expired upload's content is uploaded again; the new upload has found the object and
    not committed yet when the purge runs. The purge leaves that content (and the expired
    upload) to a later run, which sees the new upload's row."""
    data = cube(32)
    stage_upload(api, tokens["designer"], data)
    _expire_all_uploads(api)
    b_found, b_go, purge_waits_or_done = (threading.Event() for _ in range(3))
    seen: dict[str, object] = {}

    def upload_b() -> None:
        upload = _in_flight(api, tokens["designer"], data, found=b_found, go=b_go, seen=seen, name="b")
        with upload as (session, owner, item):
            seen["upload"] = uploads.record_upload(session, owner, item, ttl_s=3600).id

    steps = _Steps()
    steps.start("B", upload_b)
    assert b_found.wait(60), steps.errors
    sha = seen["b"].sha256
    assert sha not in seen["b"].new_objects  # B found the expired upload's object
    waiting.clear()
    _when_waiting(waiting, purge_waits_or_done)
    steps.start("purge", lambda: seen.setdefault("purged", _purge(api)), then=purge_waits_or_done)
    assert purge_waits_or_done.wait(60), steps.errors  # skipped the content, or waits for B (the old code)
    b_go.set()
    steps.join()
    assert steps.errors == {}
    assert seen["purged"] == 0  # the content was held: the expired upload stays for a later run
    assert _purge(api) == 1  # that run forgets it and keeps the content for B's upload
    design = api.post(
        "/api/v1/designs",
        headers=bearer(tokens["designer"]),
        json={"title": "From B's upload", "parts": [{"upload_id": seen["upload"]}]},
    )
    assert design.status_code == 201, design.text
    assert _downloadable(api, sha) == data
    assert not holds.LOCAL.held(sha)


def test_purge_keeps_an_object_a_design_in_flight_uses(api, tokens):
    """A design is being published from an upload that expires before the design commits: the
    purge leaves the upload's content alone, and a later run sees the design's part."""
    services, data = api.app.state.services, cube(34)
    upload = stage_upload(api, tokens["designer"], data).json()
    seen: dict[str, object] = {}
    with Session(services.engine, expire_on_commit=False) as session:
        owner = authenticate(session, tokens["designer"])
        parts = service.parts_from_uploads(session, owner, [PartRef(upload_id=upload["id"])])
        _expire_all_uploads(api)
        steps = _Steps()
        steps.start("purge", lambda: seen.setdefault("purged", _purge(api)))
        steps.join()  # without waiting for the design (the old code waited, then timed out)
        design = flows.create_design(session, meta=DesignMeta(title="Just in time"), parts=parts, owner=owner)
    assert steps.errors == {} and seen["purged"] == 0
    assert _purge(api) == 1
    published = api.get(f"/api/v1/designs/{design.id}", headers=bearer(tokens["designer"])).json()
    assert published["files"][0]["sha256"] == upload["sha256"]
    assert _downloadable(api, upload["sha256"]) == data


def test_held_content_does_not_stop_the_purge(api, tokens, monkeypatch):
    """Content another transaction holds is skipped, not waited for: the purge goes on with
    the other expired uploads, batches after it included, and a later run purges it."""
    monkeypatch.setattr(uploads, "PURGE_BATCH", 1)
    services = api.app.state.services
    before = stored(api)
    staged = [stage_upload(api, tokens["designer"], cube(size)).json() for size in (35, 36, 37)]
    _expire_all_uploads(api)
    first = min(staged, key=lambda u: u["id"])  # the first batch's
    with Session(services.engine) as in_flight:
        holds.hold_shared(in_flight, [first["sha256"]])  # e.g. an upload of the same bytes
        started = time.monotonic()
        assert _purge(api) == 2
        # It did not wait for the holder: a purge that waited would sit out CLEANUP_WAIT_S (30 s).
        assert time.monotonic() - started < holds.CLEANUP_WAIT_S / 6
        assert stored(api)["uploads"] == before["uploads"] + 1
        assert _downloadable(api, first["sha256"])
        assert not any(services.files.exists(u["sha256"]) for u in staged if u is not first)
    assert _purge(api) == 1  # released: purged now
    assert stored(api) == before


@pytest.mark.parametrize("route", ["design", "okh"])
def test_a_request_waiting_for_a_hold_does_not_stall_the_others(api, tokens, waiting, route):
    """A design made from staged uploads (JSON, or an OKH import) holds their content; while a
    clean-up holds it, that request waits in a worker thread, and the hub goes on answering
    other requests. On the event loop, its wait stalled them all (on PostgreSQL for as long as
    a clean-up waits, behind which its shared hold queues)."""
    upload = stage_upload(api, tokens["designer"], cube(38)).json()
    headers = bearer(tokens["designer"])
    if route == "design":

        def publish_from_upload():
            return api.post(
                "/api/v1/designs", headers=headers, json={"title": "Waits", "parts": [{"upload_id": upload["id"]}]}
            )
    else:
        manifest = 'okhv="1"\nname="Kit"\nlicense="MIT"\nlicensor="Ada"\n[[part]]\nname="A"\nexport=["part.stl"]\n'

        def publish_from_upload():
            return api.post(
                "/api/v1/designs/import/okh",
                content=manifest.encode(),
                params={"upload": [upload["id"]]},
                headers={**headers, "Content-Type": "application/toml"},
            )

    seen: dict[str, object] = {}
    steps, answered = _Steps(), threading.Event()
    with Session(api.app.state.services.engine) as cleanup:
        holds.hold_exclusive(cleanup, [upload["sha256"]])  # a clean-up checking that content
        waiting.clear()
        steps.start("publish", lambda: seen.setdefault("published", publish_from_upload()))
        assert waiting.wait(60), steps.errors  # the request waits for the clean-up
        steps.start(
            "other", lambda: seen.setdefault("other", api.get("/api/v1/licences", headers=headers)), then=answered
        )
        answered.wait(10)  # a bound for a stalled hub, not a timing claim
        assert seen.get("other") is not None and seen["other"].status_code == 200, (
            "another request was not answered while one waited for a hold"
        )
        assert "published" not in seen
        cleanup.rollback()
    steps.join()
    assert steps.errors == {}
    assert seen["published"].status_code == 201, seen["published"].text


def test_purge_keeps_content_that_is_another_files_derived_file(api, tokens):
    """The purge asks the same question as a failed upload's clean-up: an expired upload of a
    design's repaired copy (downloaded and uploaded again) leaves the copy in the store."""
    design = publish_design(api, tokens["designer"], stl_bytes(open_box())).json()
    repaired = design["files"][0]["repaired"]["sha256"]
    copy = stage_upload(api, tokens["designer"], _downloadable(api, repaired), "repaired.stl").json()
    assert copy["sha256"] == repaired
    _expire_all_uploads(api)
    with Session(api.app.state.services.engine) as session:
        assert uploads.purge_expired_uploads(session, api.app.state.services.files) == 1
    assert _downloadable(api, repaired)


def test_a_clean_up_waits_for_holders_only_so_long(api):
    """An exclusive hold waits at most its timeout (the caller then keeps the object), and a
    shared hold ends with its transaction, however that ends."""
    engine, sha = api.app.state.services.engine, "ab" * 32
    with Session(engine) as upload, Session(engine) as cleanup:
        holds.hold_shared(upload, [sha])
        with pytest.raises(holds.HoldTimeout):
            holds.hold_exclusive(cleanup, [sha], timeout_s=0.2)
        cleanup.rollback()
        upload.commit()
        holds.hold_exclusive(cleanup, [sha], timeout_s=0.2)
        if engine.dialect.name == "postgresql":  # the wait's limit is gone once the hold is taken
            assert cleanup.exec(text("SHOW lock_timeout")).one()[0] == "0"
        cleanup.rollback()
        holds.hold_shared(upload, [sha])
    assert not holds.LOCAL.held(sha)  # closing the session ended the last one


@pytest.mark.parametrize("route", ["upload", "design"])
def test_analysis_over_its_memory_cap_is_refused_and_the_hub_keeps_serving(api, tokens, route):
    settings = api.app.state.services.settings
    before = stored(api)
    settings.analysis_max_memory_mb = 16  # far below what loading any mesh takes
    if route == "upload":
        response = stage_upload(api, tokens["designer"], cube(23), expect=422)
    else:
        response = publish_design(api, tokens["designer"], cube(23), expect=422)
    assert "analysis exceeded 16 MB" in response.json()["detail"]
    assert stored(api) == before
    settings.analysis_max_memory_mb = 4096
    accepted = stage_upload(api, tokens["designer"], cube(23)).json()
    assert accepted["analysis"]["watertight"] is True


def sleep_for(seconds: float) -> str:
    """Runs in the analysis child (importable by name, as the forkserver needs)."""
    time.sleep(seconds)
    return "finished"


def test_analysis_past_its_time_limit_is_killed():
    limits = AnalysisLimits(memory_mb=4096, timeout_s=0.5)
    with pytest.raises(AnalysisOverLimit, match=r"analysis exceeded 0.5 s"):
        run_limited(sleep_for, 3600, limits=limits, rejected=ValueError)
    assert (
        run_limited(sleep_for, 0, limits=AnalysisLimits(memory_mb=4096, timeout_s=60), rejected=ValueError)
        == "finished"
    )
