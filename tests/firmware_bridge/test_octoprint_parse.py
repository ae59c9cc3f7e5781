"""OctoPrint answers -> firmware_bridge values, on plain dicts (shapes as OctoPrint 1.11 sends)."""

from __future__ import annotations

import pytest

from firmware_bridge import MachineState, Temperature
from firmware_bridge.octoprint_parse import (
    current_profile,
    error_text,
    parse_capabilities,
    parse_job,
    parse_state,
)


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("Offline", MachineState.DISCONNECTED),
        ("Closed", MachineState.DISCONNECTED),
        ("Opening serial connection", MachineState.CONNECTING),
        ("Detecting serial connection", MachineState.CONNECTING),
        ("Operational", MachineState.IDLE),
        ("Starting", MachineState.PRINTING),
        ("Printing", MachineState.PRINTING),
        ("Printing from SD", MachineState.PRINTING),
        ("Resuming", MachineState.PRINTING),
        ("Pausing", MachineState.PAUSING),
        ("Paused", MachineState.PAUSED),
        ("Cancelling", MachineState.CANCELLING),
        ("Finishing", MachineState.FINISHING),
        ("Error", MachineState.ERROR),
        ("Offline after error", MachineState.ERROR),
    ],
)
def test_octoprint_state_texts_map_to_machine_states(text: str, state: MachineState) -> None:
    assert parse_state(text) is state


def test_an_unknown_state_is_treated_as_an_error_so_no_job_is_sent() -> None:
    assert parse_state("Unknown State (42)") is MachineState.ERROR


def test_a_printing_job_answer() -> None:
    job = {
        "job": {"file": {"name": "part.gcode", "path": "jobs/part.gcode", "origin": "local"}},
        "progress": {"completion": 42.5, "printTime": 12, "printTimeLeft": 30.5},
        "state": "Printing",
    }
    printer = {
        "temperature": {
            "tool0": {"actual": 210.2, "target": 210.0, "offset": 0},
            "bed": {"actual": 59.8, "target": None},
            "history": [{"time": 1}],
        }
    }
    progress = parse_job(job, printer)
    assert progress.state is MachineState.PRINTING
    assert progress.job_active
    assert progress.completion == 42.5
    assert progress.print_time_s == 12.0
    assert progress.print_time_left_s == 30.5
    assert progress.file_name == "jobs/part.gcode"
    assert progress.error is None
    assert progress.temperatures == {
        "tool0": Temperature(210.2, 210.0),
        "bed": Temperature(59.8, None),
    }


def test_the_firmware_message_comes_from_the_job_answers_error_field() -> None:
    job = {
        "job": {"file": {"name": None, "path": None}},
        "progress": {"completion": None, "printTime": None, "printTimeLeft": None},
        "state": "Offline after error",
        "error": "Thermal Runaway, system stopped! Heater_ID: bed",
    }
    progress = parse_job(job)
    assert progress.state is MachineState.ERROR
    assert progress.error == "Thermal Runaway, system stopped! Heater_ID: bed"
    assert progress.file_name is None
    assert progress.completion is None


def test_an_error_state_without_message_still_explains_itself() -> None:
    assert parse_job({"state": "Error"}).error == "OctoPrint reports 'Error'"


def test_completion_is_clamped_and_junk_numbers_are_dropped() -> None:
    job = {
        "state": "Printing",
        "progress": {"completion": 100.0000001, "printTime": "soon", "printTimeLeft": float("nan")},
    }
    progress = parse_job(job)
    assert progress.completion == 100.0
    assert progress.print_time_s is None
    assert progress.print_time_left_s is None


def test_capabilities_from_the_current_printer_profile() -> None:
    profiles = {
        "profiles": {
            "_default": {
                "id": "_default",
                "default": True,
                "current": False,
                "volume": {"width": 200, "depth": 200, "height": 200},
            },
            "mk4": {
                "id": "mk4",
                "current": True,
                "heatedBed": True,
                "heatedChamber": False,
                "extruder": {"count": 2},
                "volume": {"width": 250, "depth": 210, "height": 220},
            },
        }
    }
    caps = parse_capabilities(current_profile(profiles))
    assert caps.build_volume_mm == (250.0, 210.0, 220.0)
    assert caps.extruders == 2
    assert caps.heated_bed is True
    assert ".gcode" in caps.file_extensions


def test_capabilities_without_a_usable_volume() -> None:
    caps = parse_capabilities({"volume": {"width": 0, "depth": 200, "height": 200}})
    assert caps.build_volume_mm is None
    assert parse_capabilities(None).build_volume_mm is None


def test_error_text_prefers_octoprints_error_field() -> None:
    assert error_text({"error": "Printer is not operational"}, "x") == "Printer is not operational"
    assert error_text("plain text", "x") == "plain text"
    assert error_text("", "fallback") == "fallback"
    assert error_text("y" * 1000, "x").endswith("...")


def test_push_current_message_recorded_from_octoprint_1_11() -> None:
    from firmware_bridge.octoprint_parse import parse_push

    current = {
        "state": {"text": "Printing", "flags": {"printing": True}, "error": ""},
        "job": {"file": {"name": "part.gcode", "path": "jobs/part.gcode"}},
        "progress": {"completion": 42.5, "printTime": 61, "printTimeLeft": 80},
        "temps": [
            {"time": 1, "tool0": {"actual": 180.0, "target": 210.0}},
            {"time": 2, "tool0": {"actual": 209.5, "target": 210.0}, "bed": {"actual": 60.1, "target": 60.0}},
        ],
    }
    snapshot = parse_push(current)
    assert snapshot.state is MachineState.PRINTING
    assert snapshot.completion == 42.5
    assert snapshot.file_name == "jobs/part.gcode"
    assert snapshot.print_time_left_s == 80
    assert snapshot.temperatures["tool0"].actual == 209.5
    assert snapshot.temperatures["bed"].target == 60.0
    halted = parse_push({"state": {"text": "Offline after error", "error": "Thermal Runaway"}, "temps": []})
    assert halted.state is MachineState.ERROR and halted.error == "Thermal Runaway"
