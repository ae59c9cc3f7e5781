"""OctoPrint push updates and fault injection, against a real OctoPrint 1.11 virtual printer.

Faults: the serial connection dropped under a job (`!!DEBUG:drop_connection`), resends
(`!!DEBUG:resend_ratio`), a rejected key on the push socket, and OctoPrint itself going
down and coming back. (The fatal firmware error is in test_octoprint_driver.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cofab.devstack.octoprint import VirtualOctoPrint
from firmware_bridge import MachineState, OctoPrintDriver
from firmware_bridge.octoprint_push import backoff_delays
from tests.firmware_bridge.support import FAST, Recorder, state_is, wait_for, write_job

pytestmark = pytest.mark.integration


def test_push_messages_alone_report_a_job_to_its_end(driver: OctoPrintDriver, tmp_path: Path) -> None:
    recorder = Recorder()
    driver.add_listener(recorder)
    driver.start_monitoring(interval_s=600)  # polling effectively off: push must carry it
    push = driver.push_client
    assert push is not None
    wait_for(push.connected.is_set, 10, "the push socket")
    wait_for(lambda: driver.status().temperatures, 10, "a temperature reading")
    driver.run_file(write_job(tmp_path / "pushed.gcode", moves=30, dwell_ms=40), "pushed.gcode")
    progress, success = recorder.wait_done(timeout=30)
    assert success is True
    assert progress.file_name == "pushed.gcode"
    assert push.messages > 3
    with recorder.lock:
        assert all(p.temperatures for p in recorder.progress if p.state is MachineState.PRINTING)


def test_a_dropped_serial_connection_fails_the_job_with_a_reason(
    driver: OctoPrintDriver, recorder: Recorder, tmp_path: Path
) -> None:
    driver.run_file(write_job(tmp_path / "long.gcode", moves=200, dwell_ms=100), "dropped.gcode")
    wait_for(state_is(driver, MachineState.PRINTING), 5, "printing")
    driver.send_commands(["!!DEBUG:drop_connection"])
    progress, success = recorder.wait_done(timeout=20)
    assert success is False
    assert progress.state in (MachineState.ERROR, MachineState.DISCONNECTED)
    driver.connect(timeout=20)
    assert driver.status().state is MachineState.IDLE


def test_resends_do_not_break_a_job(driver: OctoPrintDriver, recorder: Recorder, tmp_path: Path) -> None:
    driver.send_commands(["!!DEBUG:resend_ratio 20"])  # 20 % of lines ask for a resend
    try:
        driver.run_file(write_job(tmp_path / "resent.gcode", moves=40, dwell_ms=10), "resent.gcode")
        progress, success = recorder.wait_done(timeout=40)
        assert success is True
        assert progress.completion == pytest.approx(100.0)
    finally:
        driver.send_commands(["!!DEBUG:resend_ratio 0"])


def test_a_rejected_key_on_the_push_socket_backs_off_without_crashing(
    octoprint: VirtualOctoPrint,
) -> None:
    with OctoPrintDriver(octoprint.url, "wrong-key", port="VIRTUAL") as bad:
        recorder = Recorder()
        bad.add_listener(recorder)
        bad.start_monitoring(interval_s=0.2)
        push = bad.push_client
        assert push is not None
        wait_for(lambda: push.last_error, 10, "the push login to be refused")
        assert "refused" in push.last_error
        assert not push.connected.is_set()
        wait_for(lambda: MachineState.UNREACHABLE in recorder.states, 5, "state unreachable")


def test_backoff_doubles_up_to_a_cap() -> None:
    delays = backoff_delays(0.5, 4)
    assert [next(delays) for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]


def test_octoprint_down_then_back_is_followed_without_a_crash(tmp_path: Path) -> None:
    server = VirtualOctoPrint(tmp_path / "octoprint").start()
    try:
        with OctoPrintDriver(
            server.url, server.api_key, port="VIRTUAL", setup_commands=FAST, request_timeout_s=2
        ) as drv:
            drv.connect(timeout=20)
            recorder = Recorder()
            drv.add_listener(recorder)
            drv.start_monitoring(interval_s=0.2)
            push = drv.push_client
            assert push is not None
            wait_for(push.connected.is_set, 10, "the push socket")
            server.stop()
            down = wait_for(state_is(drv, MachineState.UNREACHABLE), 10, "unreachable")
            assert down.error is not None and "is OctoPrint running" in down.error
            server.start()
            wait_for(lambda: push.connects >= 2, 40, "the push socket to reconnect")
            # OctoPrint restarted without the printer: the driver reconnects it on request.
            drv.connect(timeout=20)
            assert drv.status().state is MachineState.IDLE
            with recorder.lock:
                assert MachineState.UNREACHABLE in recorder.states
    finally:
        server.stop()
