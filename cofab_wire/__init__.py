"""The MQTT wire protocol between hub and fab nodes: topics and message models.

It is the contract both sides import, so it depends on pydantic only and on neither side.
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
