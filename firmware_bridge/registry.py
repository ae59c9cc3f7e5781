"""Build a driver from a lab's machine configuration, chosen by its `type`.

The node agent reads machine sections from its config file and calls `create_driver()`;
it never names a driver class, so adding a kind of machine (GRBL, Moonraker) means adding
one entry here and nothing in the node.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from firmware_bridge.driver import MachineDriver
from firmware_bridge.grbl import GrblDriver
from firmware_bridge.moonraker import MoonrakerDriver
from firmware_bridge.octoprint import OctoPrintDriver


class DriverConfigError(ValueError):
    """A machine configuration that cannot make a driver: unknown type, bad or missing keys."""


DRIVERS: dict[str, Callable[..., MachineDriver]] = {
    "octoprint": OctoPrintDriver,
    "grbl": GrblDriver,
    "moonraker": MoonrakerDriver,
}
"""Machine `type` to driver class; each takes its config keys as keyword arguments."""


def create_driver(config: Mapping[str, Any]) -> MachineDriver:
    """Return a driver for `config`, e.g. `{"type": "octoprint", "url": ..., "api_key": ...}`.

    Keys other than `type` are the driver's constructor arguments. A misspelt key is an
    error naming the accepted ones, rather than silently ignored.
    """
    kind = config.get("type")
    if kind not in DRIVERS:
        known = ", ".join(sorted(DRIVERS))
        raise DriverConfigError(f"unknown machine type {kind!r}; known types: {known}")
    factory = DRIVERS[kind]
    options = {key: value for key, value in config.items() if key != "type"}
    accepted, required = _parameters(factory)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise DriverConfigError(
            f"unknown key(s) {', '.join(unknown)} for machine type {kind!r}; "
            f"accepted keys: {', '.join(sorted(accepted))}"
        )
    missing = sorted(required - set(options))
    if missing:
        raise DriverConfigError(f"machine type {kind!r} needs the key(s) {', '.join(missing)}")
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:
        raise DriverConfigError(f"invalid configuration for machine type {kind!r}: {exc}") from None


def _parameters(factory: Callable[..., MachineDriver]) -> tuple[set[str], set[str]]:
    """The keyword names `factory` accepts, and those without a default."""
    params = [
        p for p in inspect.signature(factory).parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    return {p.name for p in params}, {p.name for p in params if p.default is p.empty}
