"""GrblDriver against the GRBL emulator on a pty (the project's one fake, see its docstring).

Every driver operation and every fault the emulator injects: alarm mid-job, lost
connection, error responses; and the 128-byte buffer is never overrun.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cofab.devstack.grbl_emulator import GrblEmulator
from firmware_bridge import (
    MachineBusy,
    MachineNotReady,
    MachineResponseError,
    MachineState,
    MachineStateError,
    MachineUnreachable,
    UploadRejected,
    create_driver,
)
from firmware_bridge.grbl import GrblDriver
from tests.firmware_bridge.support import Recorder, reconnects_idle, run_until_printing, state_is, wait_for


def write_program(path: Path, moves: int, feed: int = 3000) -> Path:
    lines = ["; laser program", "G21 G90", "M4 S600"]
    lines += [f"G1 X{10 + (i * 7) % 80} Y{10 + (i * 13) % 80} F{feed} ; move {i}" for i in range(moves)]
    lines += ["M5", "G0 X0 Y0"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_until_moving(driver: GrblDriver, emulator: GrblEmulator, program: Path, time_scale: float) -> None:
    """Start `program` with motion taking `time_scale` of real time, and wait (5 s at most)
    until the emulated machine is in motion."""
    emulator.time_scale = time_scale
    driver.run_file(program, program.name)
    wait_for(lambda: emulator.state == "Run", 5, "the machine moving")


@pytest.fixture
def emulator() -> Iterator[GrblEmulator]:
    # 1 % of real time: a 40 mm move at 3000 mm/min takes 8 ms.
    with GrblEmulator(time_scale=0.01) as emu:
        yield emu


@pytest.fixture
def driver(emulator: GrblEmulator) -> Iterator[GrblDriver]:
    drv = GrblDriver(emulator.port, process="laser", work_area_mm=(400, 300, 40))
    drv.connect(timeout=5)
    yield drv
    drv.close()


@pytest.fixture
def recorder(driver: GrblDriver) -> Recorder:
    return Recorder.listening_to(driver, interval_s=0.05)


def test_connect_reports_idle_and_capabilities(driver: GrblDriver) -> None:
    snapshot = driver.status()
    assert snapshot.state is MachineState.IDLE
    assert snapshot.error is None
    caps = driver.capabilities
    assert caps.process == "laser"
    assert caps.build_volume_mm == (400.0, 300.0, 40.0)
    assert ".nc" in caps.file_extensions and caps.heated_bed is False


def test_a_program_streams_to_completion_without_overrunning_the_buffer(
    driver: GrblDriver, recorder: Recorder, emulator: GrblEmulator, tmp_path: Path
) -> None:
    program = write_program(tmp_path / "plate.nc", moves=400)
    assert driver.run_file(program, "plate.nc") == "plate.nc"
    progress, success = recorder.wait_done(timeout=30)
    assert success is True
    assert progress.state is MachineState.IDLE
    assert progress.completion == pytest.approx(100.0)
    assert progress.file_name == "plate.nc"
    assert emulator.overflows == 0
    assert emulator.max_rx_fill <= 128
    assert emulator.max_rx_fill > 64, "character counting keeps GRBL's buffer busy"
    # Every program line arrived once, cleaned of comments and spaces, in order.
    assert len(emulator.lines_executed) == 404
    assert emulator.lines_executed[3] == b"G1X17Y23F3000"
    with recorder.lock:
        seen = [p.completion for p in recorder.progress if p.state is MachineState.PRINTING]
    assert any(c is not None and 0 < c < 100 for c in seen)
    assert seen == sorted(c for c in seen if c is not None)


def test_pause_resume_and_cancel(
    driver: GrblDriver, recorder: Recorder, emulator: GrblEmulator, tmp_path: Path
) -> None:
    _run_until_moving(driver, emulator, write_program(tmp_path / "long.nc", moves=400), time_scale=0.2)
    driver.pause()
    paused = wait_for(state_is(driver, MachineState.PAUSED), 5, "paused (Hold:0)")
    assert paused.completion is not None and paused.completion < 100
    assert b"!" in emulator.realtime
    driver.resume()
    wait_for(
        lambda: (
            (s := driver.status()).state is MachineState.PRINTING and (s.completion or 0) > (paused.completion or 0)
        ),
        10,
        "printing again",
    )
    driver.cancel()
    progress, success = recorder.wait_done(timeout=10)
    assert success is False
    assert progress.state is MachineState.IDLE
    assert driver.status().state is MachineState.IDLE
    assert emulator.alarm is None, "cancel holds before resetting, so position is kept"


def test_pause_without_a_job_says_why(driver: GrblDriver) -> None:
    with pytest.raises(MachineStateError, match="cannot pause: .* is idle"):
        driver.pause()
    with pytest.raises(MachineStateError, match="cannot cancel"):
        driver.cancel()


def test_a_busy_machine_refuses_another_job_and_commands(
    driver: GrblDriver, emulator: GrblEmulator, tmp_path: Path
) -> None:
    emulator.time_scale = 0.2
    run_until_printing(driver, write_program(tmp_path / "a.nc", moves=300), "a.nc")
    with pytest.raises(MachineBusy, match="a.nc"):
        driver.run_file(write_program(tmp_path / "b.nc", moves=2), "b.nc")
    with pytest.raises(MachineBusy, match="streaming"):
        driver.send_commands(["G0 X0"])
    driver.cancel()


def test_uploads_need_a_gcode_file_and_start_needs_an_upload(driver: GrblDriver, tmp_path: Path) -> None:
    with pytest.raises(UploadRejected, match="no such file"):
        driver.upload(tmp_path / "missing.nc", "missing.nc")
    model = tmp_path / "part.stl"
    model.write_text("solid\n")
    with pytest.raises(UploadRejected, match="G-code files"):
        driver.upload(model, "part.stl")
    with pytest.raises(MachineStateError, match="upload it first"):
        driver.start("never.nc")


def test_send_commands_waits_for_each_answer_and_surfaces_errors(driver: GrblDriver, emulator: GrblEmulator) -> None:
    driver.send_commands(["G21", "G0 X5 Y5", "$$"])
    assert b"G0X5Y5" in emulator.lines_executed
    with pytest.raises(MachineResponseError, match="error:20: unsupported"):
        driver.send_commands(["M104 S200"])


def test_an_alarm_mid_job_fails_the_job_with_the_alarm_message(
    driver: GrblDriver, recorder: Recorder, emulator: GrblEmulator, tmp_path: Path
) -> None:
    emulator.alarm_after(lines=50, code=1)
    driver.run_file(write_program(tmp_path / "job.nc", moves=300), "job.nc")
    progress = recorder.wait_failed(timeout=15)
    assert "ALARM:1: hard limit" in progress.error
    assert progress.completion is not None and progress.completion < 100
    # Locked: a new job is refused until a person unlocks, and connect() says so.
    with pytest.raises(MachineNotReady, match="hard limit"):
        driver.run_file(write_program(tmp_path / "next.nc", moves=2), "next.nc")
    with pytest.raises(MachineNotReady, match=r"alarm .*\$X"):
        driver.connect(timeout=5)
    driver.unlock()
    reconnects_idle(driver, 5)


def test_an_error_response_stops_the_job_and_names_the_line(
    driver: GrblDriver, recorder: Recorder, emulator: GrblEmulator, tmp_path: Path
) -> None:
    emulator.time_scale = 0.1
    emulator.error_on_lines({20: 33})
    driver.run_file(write_program(tmp_path / "job.nc", moves=300), "job.nc")
    progress = recorder.wait_failed(timeout=15)
    assert progress.error == "program line 20: error:33: motion target is invalid"
    # The driver held and reset GRBL instead of streaming the rest of the program.
    assert len(emulator.lines_executed) < 300
    assert emulator.alarm is None
    reconnects_idle(driver, 5)


def test_a_lost_connection_fails_the_job_and_makes_the_machine_unreachable(
    driver: GrblDriver, recorder: Recorder, emulator: GrblEmulator, tmp_path: Path
) -> None:
    emulator.time_scale = 0.2
    run_until_printing(driver, write_program(tmp_path / "job.nc", moves=300), "job.nc")
    emulator.drop_connection()
    progress = recorder.wait_failed(timeout=10)
    assert "lost the serial connection" in progress.error
    with pytest.raises(MachineUnreachable):
        driver.checked_status()


def test_emergency_stop_during_motion_leaves_grbl_in_alarm(
    driver: GrblDriver, recorder: Recorder, emulator: GrblEmulator, tmp_path: Path
) -> None:
    _run_until_moving(driver, emulator, write_program(tmp_path / "job.nc", moves=100), time_scale=0.5)
    driver.emergency_stop()
    progress = recorder.wait_failed(timeout=10)
    assert progress.error == "emergency stop"
    assert b"\x18" in emulator.realtime
    wait_for(lambda: emulator.alarm == 3, 5, "ALARM:3 (reset while in motion)")
    with pytest.raises(MachineNotReady, match="ALARM:3: reset while in motion"):
        driver.connect(timeout=5)


def test_a_port_that_does_not_exist_is_unreachable(tmp_path: Path) -> None:
    with GrblDriver(str(tmp_path / "ttyNOPE")) as drv:
        with pytest.raises(MachineUnreachable, match="cannot open"):
            drv.connect(timeout=2)
        assert drv.status().state is MachineState.DISCONNECTED


def test_a_silent_device_is_not_taken_for_grbl() -> None:
    with (
        GrblEmulator(sink=True) as silent,  # reads, never answers
        GrblDriver(silent.port, status_timeout_s=0.3) as drv,
        pytest.raises(MachineUnreachable, match="does not answer status queries"),
    ):
        drv.connect(timeout=1)


def test_create_driver_builds_a_grbl_driver(emulator: GrblEmulator) -> None:
    with create_driver(
        {"type": "grbl", "port": emulator.port, "process": "CNC", "work_area_mm": [600, 400, 80]}
    ) as drv:
        assert isinstance(drv, GrblDriver)
        drv.connect(timeout=5)
        assert drv.capabilities.process == "CNC"
        assert drv.status().state is MachineState.IDLE
