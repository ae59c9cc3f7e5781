"""The VirtualOctoPrint launcher: finding OctoPrint, clear start failures, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofab.devstack import octoprint as launcher
from cofab.devstack.octoprint import OctoPrintNotFound, OctoPrintStartError, VirtualOctoPrint
from firmware_bridge import OctoPrintDriver
from tests.firmware_bridge.support import FAST, Recorder, reconnects_idle, write_job


def test_the_env_var_names_the_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    real = launcher.find_octoprint()
    monkeypatch.setenv(launcher.ENV_VAR, str(real))
    assert launcher.find_octoprint() == real


def test_a_missing_octoprint_names_the_three_places_looked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(launcher.ENV_VAR, str(tmp_path / "nowhere" / "octoprint"))
    monkeypatch.setattr(launcher, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OctoPrintNotFound) as err:
        launcher.find_octoprint()
    message = str(err.value)
    assert "$COFAB_OCTOPRINT_BIN" in message and str(tmp_path / "nowhere") in message
    assert str(tmp_path / ".octoprint-venv" / "bin" / "octoprint") in message
    assert "PATH" in message
    with pytest.raises(OctoPrintNotFound):
        VirtualOctoPrint(tmp_path / "base").start()


@pytest.mark.integration
def test_a_start_failure_says_why_with_the_log_tail(octoprint: VirtualOctoPrint, tmp_path: Path) -> None:
    clash = VirtualOctoPrint(tmp_path / "clash", port=octoprint.port, startup_timeout_s=30)
    with pytest.raises(OctoPrintStartError, match="Address already in use") as err:
        clash.start()
    assert "exited with code" in str(err.value)
    assert not clash.running
    assert octoprint.running  # the other one is untouched


@pytest.mark.integration
def test_a_restart_keeps_the_key_the_port_and_the_print_history(tmp_path: Path) -> None:
    server = VirtualOctoPrint(tmp_path / "octoprint")
    job = write_job(tmp_path / "job.gcode", moves=3, dwell_ms=0)
    with server:
        url, key = server.url, server.api_key
        with OctoPrintDriver(url, key, port="VIRTUAL", setup_commands=FAST) as driver:
            recorder = Recorder()
            driver.add_listener(recorder)
            driver.start_monitoring(interval_s=0.1)
            driver.connect(timeout=20)
            driver.run_file(job, "kept.gcode")
            assert recorder.wait_done(timeout=15)[1] is True
        pid = server.pid
    assert not server.running
    assert server.stop() == 0  # already stopped: it was a clean SIGTERM exit

    # OctoPrint is down, its log still tells what was printed.
    assert [e.action for e in server.print_log() if e.path == "kept.gcode"][-2:] == [
        "started",
        "done",
    ]

    again = VirtualOctoPrint(tmp_path / "octoprint", port=server.port)
    assert again.api_key == key
    with again:
        assert again.pid != pid
        assert again.url == url
        counts = again.printed_files()["kept.gcode"]
        assert (counts.success, counts.failure) == (1, 0)
        assert again.started_prints() == {"kept.gcode": 1}
        with OctoPrintDriver(again.url, again.api_key, port="VIRTUAL") as driver:
            reconnects_idle(driver, 20)
        again.kill()
        assert not again.running
