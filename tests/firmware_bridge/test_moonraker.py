"""Moonraker: answer parsing on JSON shaped after Moonraker's API documentation (no Klipper
runs here to record from), and the transport against an address nobody listens on."""

from __future__ import annotations

import pytest

from cofab.devstack.ports import free_port
from firmware_bridge import MachineState, MachineUnreachable, create_driver
from firmware_bridge.moonraker import MoonrakerDriver
from firmware_bridge.moonraker_parse import parse_capabilities, parse_status, parse_upload

PRINTING = {
    "webhooks": {"state": "ready", "state_message": "Printer is ready"},
    "print_stats": {
        "filename": "jobs/part.gcode",
        "total_duration": 130.2,
        "print_duration": 120.5,
        "filament_used": 812.3,
        "state": "printing",
        "message": "",
    },
    "virtual_sdcard": {"progress": 0.4215, "is_active": True, "file_position": 12345},
    "extruder": {"temperature": 239.8, "target": 240.0},
    "heater_bed": {"temperature": 99.6, "target": 100.0},
    "toolhead": {"axis_minimum": [0.0, 0.0, -5.0, -999], "axis_maximum": [350.0, 350.0, 340.0, 999]},
}


def test_a_printing_status() -> None:
    snapshot = parse_status(PRINTING)
    assert snapshot.state is MachineState.PRINTING
    assert snapshot.completion == pytest.approx(42.15)
    assert snapshot.print_time_s == 120.5
    assert snapshot.file_name == "jobs/part.gcode"
    assert snapshot.temperatures["tool0"].actual == 239.8
    assert snapshot.temperatures["bed"].target == 100.0


@pytest.mark.parametrize(
    "state,expected,completion",
    [
        ("standby", MachineState.IDLE, None),
        ("complete", MachineState.IDLE, 100.0),
        ("cancelled", MachineState.IDLE, None),
        ("paused", MachineState.PAUSED, pytest.approx(42.15)),
    ],
)
def test_print_stats_states(state: str, expected: MachineState, completion) -> None:
    snapshot = parse_status({**PRINTING, "print_stats": {**PRINTING["print_stats"], "state": state}})
    assert snapshot.state is expected
    assert snapshot.completion == completion


def test_klipper_shutdown_and_print_errors_carry_their_message() -> None:
    down = parse_status(
        {**PRINTING, "webhooks": {"state": "shutdown", "state_message": "MCU 'mcu' shutdown: Thermal runaway\n"}}
    )
    assert down.state is MachineState.ERROR and down.error == "MCU 'mcu' shutdown: Thermal runaway"
    starting = parse_status({"webhooks": {"state": "startup", "state_message": "Klipper starting"}})
    assert starting.state is MachineState.CONNECTING and starting.error is None
    failed = parse_status({**PRINTING, "print_stats": {"state": "error", "message": "Move out of range"}})
    assert failed.state is MachineState.ERROR and failed.error == "Move out of range"


def test_capabilities_from_the_toolhead_limits() -> None:
    caps = parse_capabilities(PRINTING)
    assert caps.build_volume_mm == (350.0, 350.0, 345.0)
    assert caps.heated_bed is True and caps.extruders == 1


def test_upload_answers_old_and_new() -> None:
    assert parse_upload(
        {"item": {"path": "part.gcode", "root": "gcodes"}, "print_started": True, "action": "create_file"}, "x"
    ) == ("part.gcode", True)
    assert parse_upload("part.gcode", "x") == ("part.gcode", False)


def test_an_address_nobody_listens_on_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with create_driver({"type": "moonraker", "url": url}) as driver:
        assert isinstance(driver, MoonrakerDriver)
        with pytest.raises(MachineUnreachable, match="is Moonraker running"):
            driver.connect(timeout=2)
        snapshot = driver.status()
        assert snapshot.state is MachineState.UNREACHABLE and url in (snapshot.error or "")
