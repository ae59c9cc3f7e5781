"""One way to start and stop the hub's long-lived parts.

A part is anything with `start()` and `stop()` (`Component`): the broker supervisor, the MQTT
session, the outbox relay, the inbound worker, the periodic jobs of `hub.maintenance`.
`Lifecycle` starts them in the order they were declared and stops them in reverse, so each
part starts after the parts it calls and stops before them. A part that fails to start stops
those already started; an error while stopping one is logged and the rest are still stopped.

Parts are built before any of them starts, each with what it needs. Where two parts call
each other (the MQTT session hands messages to the inbound handler, which acknowledges them
through the session), the one built first gets a `LateBound` callback, bound explicitly
before `Lifecycle.start`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, ParamSpec, Protocol

log = logging.getLogger(__name__)

P = ParamSpec("P")


class Component(Protocol):
    """A long-lived part. What `start` returns, if anything, is ignored."""

    def start(self) -> object: ...

    def stop(self) -> None: ...


class OnStop:
    """A part with nothing to start and something to release at the end (the engine's pool)."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self._release()


class LateBound(Generic[P]):
    """A callback for a part built before the part it calls; `bind` it once, before start.

    Calling it unbound raises: that is a wiring mistake, not a state to wait out.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._target: Callable[P, object] | None = None

    def bind(self, target: Callable[P, object]) -> None:
        if self._target is not None:
            raise RuntimeError(f"{self._what} is already bound")
        self._target = target

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        target = self._target
        if target is None:
            raise RuntimeError(f"{self._what} was called before it was bound")
        target(*args, **kwargs)


class Lifecycle:
    """Named parts, started in declared order and stopped in reverse."""

    def __init__(self) -> None:
        self._declared: list[tuple[str, Component]] = []
        self._started: list[tuple[str, Component]] = []

    def add(self, name: str, part: Component) -> None:
        """Declare the next part to start (and so an earlier one to stop)."""
        self._declared.append((name, part))

    def start(self) -> None:
        for name, part in self._declared:
            try:
                part.start()
            except BaseException:
                log.error("%s failed to start; stopping the parts started before it", name)
                self.stop()
                raise
            self._started.append((name, part))

    def stop(self) -> None:
        """Stop what started, last first; a part that fails to stop does not keep the others up."""
        while self._started:
            name, part = self._started.pop()
            try:
                part.stop()
            except Exception:
                log.exception("error while stopping %s", name)
