"""Topic names under one configurable prefix.

Ids are validated before they become topic levels: an id holding `+`, `#` or `/` would let a
node subscribe to, or speak for, topics that are not its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_PREFIX = "cofab/v1"


def validate_id(value: str, what: str = "id") -> str:
    """Return `value` if it is safe as one topic level, else raise ValueError."""
    if not _ID_PATTERN.match(value or ""):
        raise ValueError(
            f"{what} {value!r} must be 1-64 characters of letters, digits, '.', '_' or '-' "
            "and start with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class Topics:
    """Builds and parses the topics of one cofab network."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "+#") or self.prefix.endswith("/"):
            raise ValueError(f"invalid topic prefix {self.prefix!r}")

    def status(self, node_id: str) -> str:
        return f"{self.prefix}/nodes/{validate_id(node_id, 'node id')}/status"

    def jobs(self, node_id: str) -> str:
        return f"{self.prefix}/nodes/{validate_id(node_id, 'node id')}/jobs"

    def events(self, node_id: str) -> str:
        return f"{self.prefix}/nodes/{validate_id(node_id, 'node id')}/events"

    @property
    def all_status(self) -> str:
        return f"{self.prefix}/nodes/+/status"

    @property
    def all_events(self) -> str:
        return f"{self.prefix}/nodes/+/events"

    def node_of(self, topic: str) -> tuple[str, str]:
        """Split a node topic into (node id, kind); raise ValueError for anything else."""
        head = f"{self.prefix}/nodes/"
        if not topic.startswith(head):
            raise ValueError(f"topic {topic!r} is not under {head!r}")
        parts = topic[len(head) :].split("/")
        if len(parts) != 2 or parts[1] not in {"status", "jobs", "events"}:
            raise ValueError(f"topic {topic!r} is not a node topic")
        return validate_id(parts[0], "node id"), parts[1]
