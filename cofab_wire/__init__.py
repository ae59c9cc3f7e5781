"""The MQTT wire protocol between hub and fab nodes: topics and message models.

It is the contract both sides import, so it depends on pydantic only and on neither side.
- `topics`: `Topics(prefix)`, every topic name under one prefix (default `cofab/v1`), and the
  id rules that keep ids safe inside topics;
- `messages`: the versioned JSON messages (`PROTOCOL_VERSION`): `NodeStatus` (retained),
  `JobOffer` and `JobCommand` to a node, `JobEvent` from it, `EventAck` back; `parse_*` turn
  payloads into them or raise `WireError`.
docs/architecture.md describes the topics and the job lifecycle they carry.
"""

from cofab_wire.messages import (
    PROTOCOL_VERSION,
    Attribution,
    CommandType,
    EventAck,
    EventType,
    JobCommand,
    JobEvent,
    JobOffer,
    MachineStatus,
    NodeStatus,
    WireError,
    next_connection_epoch,
    parse_event,
    parse_job_message,
    parse_status,
)
from cofab_wire.topics import Topics

__all__ = [
    "PROTOCOL_VERSION",
    "Attribution",
    "CommandType",
    "EventAck",
    "EventType",
    "JobCommand",
    "JobEvent",
    "JobOffer",
    "MachineStatus",
    "NodeStatus",
    "Topics",
    "WireError",
    "next_connection_epoch",
    "parse_event",
    "parse_job_message",
    "parse_status",
]
