"""GRBL protocol parsing on plain strings: status reports, responses, codes, line cleaning."""

from __future__ import annotations

from firmware_bridge import MachineState
from firmware_bridge.grbl_parse import (
    ALARMS,
    ERRORS,
    alarm_message,
    clean_line,
    error_message,
    parse_response,
    parse_status,
)


def test_status_report_with_machine_position_buffer_and_feed() -> None:
    status = parse_status("<Run|MPos:10.000,-2.500,0.125|Bf:12,97|FS:1200,800>")
    assert status is not None
    assert status.state == "Run"
    assert status.mpos == (10.0, -2.5, 0.125)
    assert (status.buffer_blocks, status.buffer_bytes) == (12, 97)
    assert (status.feed, status.spindle) == (1200.0, 800.0)
    assert status.machine_state is MachineState.PRINTING


def test_status_work_position_from_wco_and_hold_substates() -> None:
    status = parse_status("<Hold:1|MPos:5.000,5.000,1.000|FS:0,0|WCO:1.000,2.000,1.000>")
    assert status is not None
    assert status.wpos == (4.0, 3.0, 0.0)
    assert status.machine_state is MachineState.PAUSING
    held = parse_status("<Hold:0|WPos:1.000,2.000,3.000|F:500>")
    assert held is not None and held.machine_state is MachineState.PAUSED
    assert held.wpos == (1.0, 2.0, 3.0) and held.feed == 500.0
    for text, state in [
        ("Idle", MachineState.IDLE),
        ("Alarm", MachineState.ERROR),
        ("Door:0", MachineState.PAUSED),
        ("Jog", MachineState.PRINTING),
        ("Sleep", MachineState.DISCONNECTED),
        ("Bogus", MachineState.ERROR),
    ]:
        parsed = parse_status(f"<{text}|MPos:0,0,0>")
        assert parsed is not None and parsed.machine_state is state, text


def test_not_a_status_report() -> None:
    assert parse_status("ok") is None
    assert parse_status("<Idle|MPos:a,b,c>") is None


def test_responses_are_classified_with_human_messages() -> None:
    assert parse_response("ok").kind == "ok"
    error = parse_response("error:20")
    assert (error.kind, error.code) == ("error", 20)
    assert error.message == "error:20: unsupported or invalid G-code command"
    alarm = parse_response("ALARM:1")
    assert alarm.kind == "alarm" and "hard limit" in alarm.message
    assert parse_response("Grbl 1.1h ['$' for help]").kind == "welcome"
    message = parse_response("[MSG:Caution: Unlocked]")
    assert (message.kind, message.text) == ("message", "Caution: Unlocked")
    assert parse_response("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]").kind == "feedback"
    assert parse_response("$110=5000.000").kind == "setting"
    status = parse_response("<Idle|MPos:0.000,0.000,0.000|FS:0,0>")
    assert status.kind == "status" and status.status is not None


def test_every_documented_code_has_a_message() -> None:
    assert set(ERRORS) == set(range(1, 18)) | set(range(20, 39))
    assert set(ALARMS) == set(range(1, 11))
    assert error_message(99) == "error:99: unknown GRBL error"
    assert alarm_message(2).startswith("ALARM:2: motion target exceeds")


def test_lines_are_cleaned_as_grbl_senders_do() -> None:
    assert clean_line("G1 X10 Y2.5 F600 ; cut\r\n") == "G1X10Y2.5F600"
    assert clean_line("(header) G0 X1 (move) Y2\n") == "G0X1Y2"
    assert clean_line("   ; only a comment\n") == ""
    assert clean_line("g1 x1\n") == "G1X1"
