"""What can go wrong when driving a machine, as exceptions a lab operator can act on.

Drivers translate every transport failure (refused connection, rejected key, odd HTTP
answer) into one of these, so the node agent never shows a raw stack trace and can decide
per class: retry later (unreachable), tell a person (auth), wait (busy), or fail the job
(upload rejected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firmware_bridge.state import MachineState


class MachineError(Exception):
    """Base class: the machine could not do what was asked. `str()` is for operators."""


class MachineUnreachable(MachineError):
    """The machine's host did not answer (down, wrong address, network, timeout).

    Usually temporary: the caller may retry later. A running job may still be going on.
    """


class MachineAuthError(MachineError):
    """The machine's host answered but rejected our credentials (e.g. a revoked API key).

    Retrying will not help; a person has to fix the configuration.
    """


class MachineResponseError(MachineError):
    """The machine's host answered something we do not understand (HTTP 500, not JSON...)."""


class MachineStateError(MachineError):
    """The action is not possible in the machine's current state (e.g. pause while idle)."""

    def __init__(self, message: str, state: MachineState | None = None) -> None:
        super().__init__(message)
        self.state = state


class MachineNotReady(MachineStateError):
    """The machine is not connected, still connecting, or stopped by an error.

    `firmware_error` carries the firmware's own words when it halted (e.g. thermal runaway).
    """

    def __init__(
        self,
        message: str,
        state: MachineState | None = None,
        firmware_error: str | None = None,
    ) -> None:
        super().__init__(message, state)
        self.firmware_error = firmware_error


class MachineBusy(MachineStateError):
    """The machine is running (or pausing, finishing...) a job and cannot take another."""


class UploadRejected(MachineError):
    """The machine's host refused a file (wrong type, too big, name in use by a print...)."""
