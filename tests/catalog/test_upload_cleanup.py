"""Uploads that fail leave nothing behind (issue 3's bad-input rule), past the file checks too:
a failed database commit takes its new files back out of the store, expired staged uploads
are purged at start-up and periodically, and an analysis past its memory cap or time limit is
stopped with a clear 422 while the hub keeps serving."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlmodel import Session

from hub.app import create_app
from hub.catalog.models import Upload
from hub.catalog.sandbox import AnalysisLimits, AnalysisOverLimit, run_limited
from tests.catalog.conftest import cube, publish, stage, stored


def _sqlite_only(api) -> None:
    if api.app.state.services.engine.dialect.name != "sqlite":
        pytest.skip("the failing commit is made with a SQLite trigger")


def _fail_inserts_into(api, table: str) -> None:
    """A real failing commit: the database itself refuses the INSERT (as a full disk or a lost
    connection would), after the file was analysed and moved into the store."""
    with api.app.state.services.engine.begin() as conn:
        conn.execute(text(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                          "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))


@pytest.mark.parametrize("route", ["upload", "design"])
def test_failed_commit_removes_the_files_it_stored(api, tokens, route):
    _sqlite_only(api)
    _fail_inserts_into(api, "uploads" if route == "upload" else "designs")
    before = stored(api)
    with pytest.raises(Exception, match="refused by the test"):
        if route == "upload":
            stage(api, tokens["designer"], cube(17))
        else:
            publish(api, tokens["designer"], cube(17))
    assert stored(api) == before  # neither the file nor its derived files, nor any row


def test_failed_commit_keeps_files_that_other_rows_use(api, tokens):
    _sqlite_only(api)
    kept = stage(api, tokens["designer"], cube(18)).json()
    _fail_inserts_into(api, "designs")
    with pytest.raises(Exception, match="refused by the test"):
        publish(api, tokens["designer"], cube(18))  # the same bytes: the staged upload still needs them
    assert api.app.state.services.files.exists(kept["sha256"])


def _expire_all_uploads(api) -> None:
    with Session(api.app.state.services.engine) as session:
        session.exec(update(Upload).values(expires_at=time.time() - 1))
        session.commit()


def test_expired_uploads_are_purged_at_start_up(api, tokens, hub_settings):
    hub_settings.upload_purge_interval_s = 0  # only the start-up purge in this test
    before = stored(api)
    stage(api, tokens["designer"], cube(19))
    assert stored(api)["uploads"] == before["uploads"] + 1
    _expire_all_uploads(api)
    with TestClient(create_app(hub_settings)) as restarted:
        assert stored(restarted) == before


def test_expired_uploads_are_purged_periodically(api, tokens, hub_settings):
    hub_settings.upload_purge_interval_s = 0.05
    with TestClient(create_app(hub_settings)) as hub:
        before = stored(hub)
        stage(hub, tokens["designer"], cube(21))
        _expire_all_uploads(hub)
        deadline = time.monotonic() + 30  # a bound for a stuck purger, not a timing claim
        while stored(hub) != before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(hub) == before


@pytest.mark.parametrize("route", ["upload", "design"])
def test_analysis_over_its_memory_cap_is_refused_and_the_hub_keeps_serving(api, tokens, route):
    settings = api.app.state.services.settings
    before = stored(api)
    settings.analysis_max_memory_mb = 16  # far below what loading any mesh takes
    if route == "upload":
        response = stage(api, tokens["designer"], cube(23), expect=422)
    else:
        response = publish(api, tokens["designer"], cube(23), expect=422)
    assert "analysis exceeded 16 MB" in response.json()["detail"]
    assert stored(api) == before
    settings.analysis_max_memory_mb = 4096
    accepted = stage(api, tokens["designer"], cube(23)).json()
    assert accepted["analysis"]["watertight"] is True


def sleep_for(seconds: float) -> str:
    """Runs in the analysis child (importable by name, as the forkserver needs)."""
    time.sleep(seconds)
    return "finished"


def test_analysis_past_its_time_limit_is_killed():
    limits = AnalysisLimits(memory_mb=4096, timeout_s=0.5)
    with pytest.raises(AnalysisOverLimit, match=r"analysis exceeded 0.5 s"):
        run_limited(sleep_for, 3600, limits=limits, rejected=ValueError)
    assert run_limited(sleep_for, 0, limits=AnalysisLimits(memory_mb=4096, timeout_s=60),
                       rejected=ValueError) == "finished"
