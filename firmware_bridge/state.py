"""The vocabulary every driver speaks: machine states, status snapshots, capabilities.

Drivers map their machine's own words (OctoPrint's "Operational", GRBL's "Idle", ...) onto
these few values, so the node agent decides what to do with a machine without knowing
which kind it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class MachineState(StrEnum):
    """Where a machine is, as far as running jobs is concerned.

    The values are plain lower-case strings so they can go on the wire as they are.
    """

    DISCONNECTED = "disconnected"
    """The host (e.g. OctoPrint) answers but has no connection to the machine."""
    CONNECTING = "connecting"
    """The host is opening the connection to the machine."""
    IDLE = "idle"
    """Connected, no job: ready to take one."""
    PRINTING = "printing"
    """Running a job (also while starting or resuming one)."""
    PAUSING = "pausing"
    """A pause was asked for; the machine finishes the move it is doing."""
    PAUSED = "paused"
    """A job is paused and can be resumed or cancelled."""
    CANCELLING = "cancelling"
    """A cancel was asked for; the host is stopping the job."""
    FINISHING = "finishing"
    """The last line of a job was sent; the host waits for the machine to complete it."""
    ERROR = "error"
    """The machine stopped because of an error (e.g. firmware halt); needs a reconnect."""
    UNREACHABLE = "unreachable"
    """The host does not answer or rejects our credentials; we know nothing about the job."""


JOB_STATES: frozenset[MachineState] = frozenset(
    {
        MachineState.PRINTING,
        MachineState.PAUSING,
        MachineState.PAUSED,
        MachineState.CANCELLING,
        MachineState.FINISHING,
    }
)
"""States in which a job is in progress: the machine must not be given another one."""

READY_STATES: frozenset[MachineState] = frozenset({MachineState.IDLE}) | JOB_STATES
"""States in which the connection to the machine is up and working."""


@dataclass(frozen=True)
class Temperature:
    """One heater, in degrees Celsius. `target` is None when the host does not report it."""

    actual: float
    target: float | None = None


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of a machine and its current job, taken at one moment.

    Immutable so it can be handed to listeners on other threads without copying. Equality
    compares every field, which is how the monitor notices that something changed.
    """

    state: MachineState
    completion: float | None = None
    """Percent of the job done, 0-100; None when no job is selected or it was cancelled."""
    print_time_s: float | None = None
    """Seconds the current job has been running."""
    print_time_left_s: float | None = None
    """The host's estimate of the seconds left; None when it has none."""
    file_name: str | None = None
    """The job's file as the host stores it (a path relative to the host's storage)."""
    error: str | None = None
    """Why the machine is in `error` or `unreachable`, in the words of the firmware or host."""
    temperatures: Mapping[str, Temperature] = field(default_factory=dict)
    """Heater name ("tool0", "bed", "chamber") to temperature; empty when not known."""

    @property
    def job_active(self) -> bool:
        """True while a job is in progress (printing, paused, finishing...)."""
        return self.state in JOB_STATES


@dataclass(frozen=True)
class MachineCapabilities:
    """What a machine can do, so the node offers it only jobs it can make.

    `build_volume_mm` is (x, y, z); None until the driver has read it from the machine.
    """

    process: str = "FDM"
    build_volume_mm: tuple[float, float, float] | None = None
    extruders: int = 1
    heated_bed: bool = False
    heated_chamber: bool = False
    file_extensions: tuple[str, ...] = (".gcode",)
    can_pause: bool = True
    can_send_commands: bool = True
