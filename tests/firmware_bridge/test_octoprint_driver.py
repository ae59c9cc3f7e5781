"""OctoPrintDriver against a real OctoPrint 1.11 with its virtual printer."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofab.devstack.octoprint import VirtualOctoPrint
from cofab.devstack.ports import free_port
from firmware_bridge import (
    JobProgress,
    MachineAuthError,
    MachineBusy,
    MachineNotReady,
    MachineState,
    MachineStateError,
    MachineUnreachable,
    OctoPrintDriver,
    Temperature,
    UploadRejected,
    create_driver,
)
from tests.firmware_bridge.support import (
    FAST,
    Recorder,
    reconnects_idle,
    run_until_printing,
    state_is,
    wait_for,
    write_job,
)

pytestmark = pytest.mark.integration


def test_connect_makes_the_printer_idle_and_reads_its_profile(
    driver: OctoPrintDriver,
) -> None:
    snapshot = driver.status()
    assert snapshot.state is MachineState.IDLE
    assert driver.state is MachineState.IDLE
    assert snapshot.error is None
    # OctoPrint's default profile: a 200 mm cube with a heated bed.
    assert driver.capabilities.build_volume_mm == (200.0, 200.0, 200.0)
    assert driver.capabilities.heated_bed is True

    # The virtual printer reports its (ambient 250 °C) temperatures shortly after connecting.
    def tool0() -> Temperature | None:
        return driver.status().temperatures.get("tool0")

    hot = wait_for(tool0, 10, "a tool0 temperature reading")
    assert hot.actual == pytest.approx(250, abs=5)


def test_connect_again_attaches_to_a_running_job_without_disturbing_it(
    driver: OctoPrintDriver, octoprint: VirtualOctoPrint, tmp_path: Path
) -> None:
    job = write_job(tmp_path / "long.gcode", moves=200, dwell_ms=100)
    run_until_printing(driver, job, "attach.gcode")
    # A second driver, as after a node restart: its connect() must not reconnect.
    with OctoPrintDriver(octoprint.url, octoprint.api_key, port="VIRTUAL") as again:
        again.connect(timeout=5)
        snapshot = again.status()
    assert snapshot.state is MachineState.PRINTING
    assert snapshot.file_name == "attach.gcode"

    def progressed() -> JobProgress | None:
        now = driver.status()
        return now if (now.completion or 0) > (snapshot.completion or 0) else None

    later = wait_for(progressed, 10, "the job to keep progressing")
    assert later.state is MachineState.PRINTING


def test_run_file_prints_to_completion_and_reports_success(
    driver: OctoPrintDriver, recorder: Recorder, octoprint: VirtualOctoPrint, tmp_path: Path
) -> None:
    job = write_job(tmp_path / "small.gcode", moves=40, dwell_ms=40)
    stored = driver.run_file(job, "small-part.gcode")
    assert stored == "small-part.gcode"

    progress, success = recorder.wait_done(timeout=30)

    assert success is True
    assert progress.state is MachineState.IDLE
    assert progress.completion == pytest.approx(100.0)
    assert progress.file_name == "small-part.gcode"
    with recorder.lock:
        states = list(recorder.states)
        seen = [p.completion for p in recorder.progress if p.state is MachineState.PRINTING]
        done_count = len(recorder.done)
    assert MachineState.PRINTING in states
    assert states[-1] is MachineState.IDLE
    assert any(c is not None and 0 < c < 100 for c in seen), seen
    assert seen == sorted(c for c in seen if c is not None), "completion never goes back"
    assert done_count == 1
    # OctoPrint's own record agrees: printed once, successfully.
    counts = wait_for(lambda: octoprint.printed_files().get("small-part.gcode"), 5, "OctoPrint's print record")
    assert (counts.success, counts.failure) == (1, 0)
    assert wait_for(lambda: octoprint.started_prints().get("small-part.gcode"), 5, "log") == 1


def test_a_job_shorter_than_the_poll_interval_is_still_reported(driver: OctoPrintDriver, tmp_path: Path) -> None:
    recorder = Recorder()
    driver.add_listener(recorder)
    driver.start_monitoring(interval_s=1.5)  # the next poll comes after the job ended
    job = write_job(tmp_path / "tiny.gcode", moves=2, dwell_ms=0)
    driver.run_file(job, "tiny.gcode")
    progress, success = recorder.wait_done(timeout=10)
    assert success is True
    assert progress.file_name == "tiny.gcode"


def test_pause_resume_and_cancel(driver: OctoPrintDriver, recorder: Recorder, tmp_path: Path) -> None:
    job = write_job(tmp_path / "long.gcode", moves=200, dwell_ms=100)
    run_until_printing(driver, job, "pausable.gcode")

    driver.pause()
    paused = wait_for(state_is(driver, MachineState.PAUSED), 5, "paused")
    assert paused.file_name == "pausable.gcode"
    assert paused.completion is not None and 0 < paused.completion < 100

    driver.resume()
    wait_for(
        lambda: (
            (s := driver.status()).state is MachineState.PRINTING and (s.completion or 0) > (paused.completion or 0)
        ),
        5,
        "printing again and progressing",
    )

    driver.cancel()
    progress, success = recorder.wait_done(timeout=10)
    assert success is False
    assert progress.state is MachineState.IDLE
    assert progress.completion is None
    with recorder.lock:
        states = list(recorder.states)
    assert MachineState.PAUSED in states
    assert MachineState.PRINTING in states[states.index(MachineState.PAUSED) :]  # resumed


def test_pause_and_cancel_without_a_job_say_why(driver: OctoPrintDriver) -> None:
    with pytest.raises(MachineStateError, match="cannot pause: .* is idle"):
        driver.pause()
    with pytest.raises(MachineStateError, match="cannot cancel: .* is idle"):
        driver.cancel()


def test_run_file_and_start_refuse_a_busy_printer(driver: OctoPrintDriver, tmp_path: Path) -> None:
    job = write_job(tmp_path / "long.gcode", moves=200, dwell_ms=100)
    other = write_job(tmp_path / "other.gcode", moves=2, dwell_ms=0)
    run_until_printing(driver, job, "first.gcode")

    with pytest.raises(MachineBusy, match="first.gcode") as busy:
        driver.run_file(other, "second.gcode")
    assert busy.value.state is MachineState.PRINTING
    with pytest.raises(MachineBusy):
        driver.start("first.gcode")
    # Overwriting the file being printed is refused by OctoPrint itself.
    with pytest.raises(UploadRejected, match="currently being printed"):
        driver.upload(other, "first.gcode")

    snapshot = driver.status()
    assert snapshot.state is MachineState.PRINTING
    assert snapshot.file_name == "first.gcode"


def test_upload_then_start(driver: OctoPrintDriver, recorder: Recorder, tmp_path: Path) -> None:
    job = write_job(tmp_path / "two step.gcode", moves=5, dwell_ms=10)
    stored = driver.upload(job, "two step.gcode")
    assert driver.status().state is MachineState.IDLE  # uploading alone starts nothing
    driver.start(stored)
    progress, success = recorder.wait_done(timeout=15)
    assert success is True
    assert progress.file_name == stored


def test_uploads_of_non_gcode_and_missing_files_are_rejected(driver: OctoPrintDriver, tmp_path: Path) -> None:
    model = tmp_path / "part.stl"
    model.write_text("solid part\nendsolid part\n")
    with pytest.raises(UploadRejected, match="only G-code"):
        driver.upload(model, "part.stl")
    with pytest.raises(UploadRejected, match="no such file"):
        driver.upload(tmp_path / "missing.gcode", "missing.gcode")
    with pytest.raises(Exception, match="has no file 'nowhere.gcode'"):
        driver.start("nowhere.gcode")


def test_a_firmware_error_is_surfaced_with_the_firmware_message(driver: OctoPrintDriver, tmp_path: Path) -> None:
    driver.send_commands(["!!DEBUG:trigger_fatal_error_marlin"])

    halted = wait_for(state_is(driver, MachineState.ERROR), 5, "state error")
    assert halted.error is not None and "Thermal Runaway" in halted.error

    job = write_job(tmp_path / "small.gcode", moves=2, dwell_ms=0)
    with pytest.raises(MachineNotReady, match="Thermal Runaway") as not_ready:
        driver.run_file(job, "after-error.gcode")
    assert not_ready.value.firmware_error == halted.error

    reconnects_idle(driver, 20)  # a person fixed the printer: reconnecting clears the error


def test_a_firmware_error_during_a_job_ends_it_as_failed(
    driver: OctoPrintDriver, recorder: Recorder, tmp_path: Path
) -> None:
    run_until_printing(driver, write_job(tmp_path / "long.gcode", moves=200, dwell_ms=100), "doomed.gcode")
    driver.send_commands(["!!DEBUG:trigger_fatal_error_marlin"])
    progress = recorder.wait_failed(timeout=10)
    assert "Thermal Runaway" in progress.error


def test_emergency_stop_halts_a_running_job(driver: OctoPrintDriver, recorder: Recorder, tmp_path: Path) -> None:
    run_until_printing(driver, write_job(tmp_path / "long.gcode", moves=200, dwell_ms=100), "estop.gcode")
    driver.emergency_stop()
    progress = recorder.wait_failed(timeout=10)
    assert "M112" in progress.error


def test_a_wrong_api_key_is_an_auth_error_with_a_readable_message(
    octoprint: VirtualOctoPrint,
) -> None:
    with OctoPrintDriver(octoprint.url, "not-the-key", port="VIRTUAL") as bad:
        with pytest.raises(MachineAuthError, match="refused the API key") as err:
            bad.connect(timeout=5)
        assert "Traceback" not in str(err.value)
        snapshot = bad.status()  # reports, does not raise
        assert snapshot.state is MachineState.UNREACHABLE
        assert bad.state is MachineState.UNREACHABLE
        assert snapshot.error is not None and "API key" in snapshot.error
        with pytest.raises(MachineAuthError):
            bad.pause()


def test_a_port_nobody_listens_on_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with OctoPrintDriver(url, "any-key", port="VIRTUAL", request_timeout_s=2) as gone:
        with pytest.raises(MachineUnreachable, match="is OctoPrint running") as err:
            gone.connect(timeout=5)
        assert url in str(err.value)
        snapshot: JobProgress = gone.status()
        assert snapshot.state is MachineState.UNREACHABLE
        assert snapshot.error is not None and url in snapshot.error
        with pytest.raises(MachineUnreachable):
            gone.run_file(Path(__file__), "x.gcode")


def test_create_driver_builds_a_working_octoprint_driver(octoprint: VirtualOctoPrint) -> None:
    # No port given: the driver uses the connection configured in OctoPrint (VIRTUAL here).
    config = {
        "type": "octoprint",
        "url": octoprint.url,
        "api_key": octoprint.api_key,
        "setup_commands": FAST,
    }
    with create_driver(config) as drv:
        assert isinstance(drv, OctoPrintDriver)
        drv.connect(timeout=20)
        assert drv.status().state is MachineState.IDLE


def test_disconnect_then_a_serial_port_octoprint_does_not_have_is_not_ready(
    driver: OctoPrintDriver, octoprint: VirtualOctoPrint
) -> None:
    driver.disconnect()
    wait_for(state_is(driver, MachineState.DISCONNECTED), 5, "disconnected")
    with OctoPrintDriver(octoprint.url, octoprint.api_key, port="/dev/no-such-printer") as drv:
        with pytest.raises(MachineNotReady, match="refused to connect to port /dev/no-such-printer"):
            drv.connect(timeout=5)
        assert drv.status().state is MachineState.DISCONNECTED
