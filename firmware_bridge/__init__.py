"""One interface for the machines a fab lab runs, and the drivers behind it.

Drivers (OctoPrint, GRBL, Moonraker) know machines, not MQTT: nothing here imports hub, fabnode or
cofab_wire. `firmware_bridge.gcode_check` checks programs before they are sent;
`StartStagger` spaces machine starts.

Entry points: `create_driver(config)` builds a driver from a lab's machine configuration by
its `type` (`registry`, `DRIVERS`); every driver is a `MachineDriver` (`driver`), the
interface the node agent uses.
- `state`: machine states, status snapshots, capabilities; `errors`: what can go wrong, for
  a lab operator; `monitor`: status snapshots turned into listener calls;
- `octoprint` (REST), `octoprint_push` (its push socket), `octoprint_parse`: printers behind
  OctoPrint (docs/octoprint.md);
- `grbl`, `grbl_parse`: GRBL 1.1 lasers and CNC routers on a serial port;
- `moonraker`, `moonraker_parse`: Klipper printers behind Moonraker;
- `stagger`: staggered starts; `gcode_check/`: the G-code safety check.
"""

from firmware_bridge.driver import MachineDriver
from firmware_bridge.errors import (
    MachineAuthError,
    MachineBusy,
    MachineError,
    MachineNotReady,
    MachineResponseError,
    MachineStateError,
    MachineUnreachable,
    UploadRejected,
)
from firmware_bridge.grbl import GrblDriver
from firmware_bridge.monitor import MachineListener
from firmware_bridge.moonraker import MoonrakerDriver
from firmware_bridge.octoprint import OctoPrintDriver
from firmware_bridge.registry import DRIVERS, DriverConfigError, create_driver
from firmware_bridge.stagger import StartStagger
from firmware_bridge.state import (
    JOB_STATES,
    READY_STATES,
    JobProgress,
    MachineCapabilities,
    MachineState,
    Temperature,
)

__all__ = [
    "DRIVERS",
    "JOB_STATES",
    "READY_STATES",
    "DriverConfigError",
    "GrblDriver",
    "JobProgress",
    "MachineAuthError",
    "MachineBusy",
    "MachineCapabilities",
    "MachineDriver",
    "MachineError",
    "MachineListener",
    "MachineNotReady",
    "MachineResponseError",
    "MachineState",
    "MachineStateError",
    "MachineUnreachable",
    "MoonrakerDriver",
    "OctoPrintDriver",
    "StartStagger",
    "Temperature",
    "UploadRejected",
    "create_driver",
]
