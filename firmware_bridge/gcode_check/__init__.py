"""G-code safety check: nothing reaches a machine before it passes.

`check_file(path, load_profile("machine.toml"))` returns a `CheckReport`: `safe`, each
`Violation` (line, kind, reason), motion bounds, maximum temperatures, and run-time and
material estimates. Dialects: Marlin/RepRap, Klipper, GRBL.
- `check`: `check_file`, `check_text`; `profile`: a machine's limits from TOML
  (examples/machines/); `report`: the report and its violations;
- `interpreter`: the exact line-by-line reference; `fast`: the fast path (a C lexer, moves as
  numpy arrays) held to the same report by the tests; `bulk`: its checks of plain moves;
- `lines`: one line split into words; `arcs`: G2/G3 arc geometry.
"""

from firmware_bridge.gcode_check.check import GcodeUnreadable, check_file, check_text
from firmware_bridge.gcode_check.profile import (
    DEFAULT_FORBIDDEN,
    DIALECTS,
    MachineProfile,
    Material,
    ProfileError,
    load_profile,
    profile_from_dict,
)
from firmware_bridge.gcode_check.report import MAX_VIOLATIONS, CheckReport, Violation

__all__ = [
    "DEFAULT_FORBIDDEN",
    "DIALECTS",
    "MAX_VIOLATIONS",
    "CheckReport",
    "GcodeUnreadable",
    "MachineProfile",
    "Material",
    "ProfileError",
    "Violation",
    "check_file",
    "check_text",
    "load_profile",
    "profile_from_dict",
]
