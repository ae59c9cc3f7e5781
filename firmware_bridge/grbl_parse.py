"""GRBL 1.1's serial protocol as plain values: status reports, responses, error and alarm codes.

Pure functions on strings, apart from the transport (`grbl.py`), so every rule is tested on
text. The messages paraphrase the GRBL 1.1 documentation's error and alarm tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from firmware_bridge.state import MachineState

RX_BUFFER_BYTES = 128
"""GRBL's serial receive buffer: the character-counting streamer never has more unanswered
bytes than this in flight."""

STATUS_QUERY = b"?"
FEED_HOLD = b"!"
CYCLE_START = b"~"
SOFT_RESET = b"\x18"

ERRORS: dict[int, str] = {
    1: "G-code words need a letter and a value; no letter was found",
    2: "a G-code word is missing its value or the number format is invalid",
    3: "GRBL '$' system command not recognised or supported",
    4: "negative value for a value that must be positive",
    5: "homing cycle is not enabled in the settings",
    6: "minimum step pulse time must be greater than 3 microseconds",
    7: "EEPROM read failed; settings were restored to defaults",
    8: "'$' command only allowed while GRBL is idle",
    9: "G-code is locked out during an alarm or jog",
    10: "soft limits need homing to be enabled",
    11: "line too long (more than 80 characters); it was not executed",
    12: "a setting would make the step rate exceed what GRBL supports",
    13: "safety door is open",
    14: "build info or startup line too long for EEPROM",
    15: "jog target exceeds the machine's travel; jog ignored",
    16: "invalid jog command",
    17: "laser mode requires PWM output",
    20: "unsupported or invalid G-code command",
    21: "more than one command from the same modal group on a line",
    22: "feed rate has not been set",
    23: "the command needs an integer value",
    24: "more than one command needing axis words on a line",
    25: "a G-code word is repeated on the line",
    26: "no axis words for a command that needs them",
    27: "invalid line number",
    28: "the command is missing a required value word",
    29: "G59.x work coordinate systems are not supported",
    30: "G53 is only allowed with G0 and G1",
    31: "axis words on a line where no command uses them",
    32: "G2/G3 arcs need at least one in-plane axis word",
    33: "motion target is invalid",
    34: "arc radius value is invalid",
    35: "G2/G3 arcs need at least one in-plane offset word",
    36: "unused value words on the line",
    37: "G43.1 tool length offset is not on the configured tool length axis",
    38: "tool number greater than the maximum supported",
}

ALARMS: dict[int, str] = {
    1: "hard limit triggered; machine position is likely lost, re-homing is recommended",
    2: "motion target exceeds the machine's travel (soft limit); position kept",
    3: "reset while in motion; position is likely lost, re-homing is recommended",
    4: "probe fail: probe not in the expected state before the probing cycle",
    5: "probe fail: probe did not make contact within the programmed travel",
    6: "homing fail: reset during the homing cycle",
    7: "homing fail: safety door opened during homing",
    8: "homing fail: could not clear the limit switch when pulling off",
    9: "homing fail: limit switch not found within the search distance",
    10: "homing fail: second limit switch of a dual axis not found",
}

_STATES: dict[str, MachineState] = {
    "Idle": MachineState.IDLE,
    "Run": MachineState.PRINTING,
    "Jog": MachineState.PRINTING,
    "Home": MachineState.PRINTING,
    "Hold": MachineState.PAUSED,
    "Door": MachineState.PAUSED,
    "Check": MachineState.IDLE,
    "Alarm": MachineState.ERROR,
    "Sleep": MachineState.DISCONNECTED,
}


def error_message(code: int) -> str:
    return f"error:{code}: {ERRORS.get(code, 'unknown GRBL error')}"


def alarm_message(code: int) -> str:
    return f"ALARM:{code}: {ALARMS.get(code, 'unknown GRBL alarm')}"


@dataclass(frozen=True)
class GrblStatus:
    """One `<...>` status report. Positions in mm; `wpos` derived from MPos - WCO if needed."""

    state: str
    substate: int | None = None
    mpos: tuple[float, ...] | None = None
    wpos: tuple[float, ...] | None = None
    wco: tuple[float, ...] | None = None
    feed: float | None = None
    spindle: float | None = None
    buffer_blocks: int | None = None
    buffer_bytes: int | None = None
    line: int | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def machine_state(self) -> MachineState:
        if self.state == "Hold" and self.substate == 1:
            return MachineState.PAUSING
        return _STATES.get(self.state, MachineState.ERROR)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def parse_status(line: str) -> GrblStatus | None:
    """Parse `<Idle|MPos:1.000,2.000,0.000|FS:0,0|WCO:0.000,0.000,0.000>`; None if not one."""
    line = line.strip()
    if not (line.startswith("<") and line.endswith(">")):
        return None
    parts = line[1:-1].split("|")
    state, _, sub = parts[0].partition(":")
    fields: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition(":")
        fields[key] = value
    try:
        mpos = _floats(fields["MPos"]) if "MPos" in fields else None
        wpos = _floats(fields["WPos"]) if "WPos" in fields else None
        wco = _floats(fields["WCO"]) if "WCO" in fields else None
        feed = spindle = None
        if "FS" in fields:
            feed, spindle = _floats(fields["FS"])[:2]
        elif "F" in fields:
            feed = float(fields["F"])
        blocks = buffer_bytes = None
        if "Bf" in fields:
            blocks, buffer_bytes = (int(v) for v in fields["Bf"].split(",")[:2])
        line_number = int(fields["Ln"]) if "Ln" in fields else None
        substate = int(sub) if sub else None
    except (ValueError, TypeError):
        return None
    if wpos is None and mpos is not None and wco is not None:
        wpos = tuple(m - w for m, w in zip(mpos, wco, strict=False))
    return GrblStatus(state, substate, mpos, wpos, wco, feed, spindle, blocks, buffer_bytes, line_number, fields)


@dataclass(frozen=True)
class Response:
    """One line from GRBL, classified. `kind`: ok, error, alarm, status, welcome, message,
    feedback, setting, other."""

    kind: str
    code: int | None = None
    text: str = ""
    status: GrblStatus | None = None

    @property
    def message(self) -> str:
        if self.kind == "error" and self.code is not None:
            return error_message(self.code)
        if self.kind == "alarm" and self.code is not None:
            return alarm_message(self.code)
        return self.text


_WELCOME = re.compile(r"Grbl \S+")


def parse_response(line: str) -> Response:
    """Classify a line GRBL sent (without its line ending)."""
    text = line.strip()
    if text == "ok":
        return Response("ok")
    if text.startswith("error:"):
        return Response("error", _code(text[6:]), text)
    if text.startswith("ALARM:"):
        return Response("alarm", _code(text[6:]), text)
    if text.startswith("<"):
        status = parse_status(text)
        return Response("status", text=text, status=status) if status else Response("other", text=text)
    if _WELCOME.match(text):
        return Response("welcome", text=text)
    if text.startswith("[MSG:"):
        return Response("message", text=text[5:].rstrip("]"))
    if text.startswith("["):
        return Response("feedback", text=text)
    if text.startswith("$") and "=" in text:
        return Response("setting", text=text)
    return Response("other", text=text)


def _code(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def clean_line(raw: str) -> str:
    """A program line as GRBL should receive it: no comments, no spaces, no line ending.

    Stripping spaces and comments is what every GRBL sender does: it saves bytes in the
    128-byte buffer and GRBL ignores them anyway. An empty result means "send nothing".
    """
    cut = raw.find(";")
    if cut >= 0:
        raw = raw[:cut]
    while "(" in raw:
        start = raw.index("(")
        end = raw.find(")", start)
        raw = raw[:start] + ("" if end < 0 else raw[end + 1 :])
    return "".join(raw.split()).upper()
