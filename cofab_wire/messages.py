"""Versioned message models carried over MQTT as JSON.

Every message has a `message_id` so a receiver can drop a QoS 1 redelivery; every job event
also carries a per-job `seq` so a stale event arriving after a newer one is ignored.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION: Literal[1] = 1
MAX_PAYLOAD_BYTES = 256 * 1024


class WireError(ValueError):
    """A payload that is not a valid message of this protocol version."""


def _new_id() -> str:
    return uuid.uuid4().hex


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = PROTOCOL_VERSION
    message_id: str = Field(default_factory=_new_id, min_length=1, max_length=64)
    sent_at: float = Field(default_factory=time.time)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class MachineStatus(BaseModel):
    """What a machine can make right now, as its node reports it (live capabilities)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    machine_id: str = Field(min_length=1, max_length=64)
    process: str = Field(description="FDM, SLA, laser or CNC")
    build_volume_mm: tuple[float, float, float]
    materials: list[str] = Field(default_factory=list, description="Materials the lab works on this machine.")
    state: str = "unknown"
    queue_length: int = Field(0, ge=0)
    material_loaded: str | None = Field(None, description="What is on the machine now (spool, sheet).")
    colour_loaded: str | None = None
    nozzle_mm: float | None = Field(None, gt=0, le=5)
    eta_free_s: float = Field(0.0, ge=0, description="Estimated seconds until the machine is free.")


class Attribution(BaseModel):
    """One design in a part's lineage: the design itself first, then its ancestors."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    design_id: str
    title: str
    authors: list[str] = Field(default_factory=list)
    licence: str


EPOCH_STEP_S = 0.001


def next_connection_epoch(previous: float | None, *, now: float | None = None) -> float:
    """The `connection_epoch` of a node's next MQTT connection: the time now, but always later
    than the previous one, so a clock that stands still or steps back never makes a connection
    look older than the one before (the hub takes a status of an earlier epoch as stale)."""
    now = time.time() if now is None else now
    return now if previous is None else max(now, previous + EPOCH_STEP_S)


class NodeStatus(_Message):
    """Retained on `nodes/{node}/status`; the node's Last Will publishes `online=False`."""

    kind: Literal["status"] = "status"
    node_id: str
    online: bool
    machines: list[MachineStatus] = Field(default_factory=list)
    connection_epoch: float | None = Field(
        None,
        description="Which of the node's MQTT connections this status belongs to (Unix s, node clock): the "
        "node renews its Last Will with a later epoch before each connection, and its statuses on that connection "
        "carry the same. Orders a will against statuses of a later connection, which `sent_at` cannot.",
    )


class JobOffer(_Message):
    """Hub -> node on `nodes/{node}/jobs`: make this part, here is where to fetch it."""

    kind: Literal["offer"] = "offer"
    job_id: str = Field(min_length=1, max_length=64)
    order_id: str
    design_id: str
    design_title: str = ""
    licence: str = ""
    authors: list[str] = Field(default_factory=list)
    file_name: str
    file_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_size: int = Field(ge=0)
    download_url: str
    download_token: str
    token_expires_at: float
    material: str
    process: str = "FDM"
    bbox_mm: tuple[float, float, float]
    machine_id: str | None = Field(
        default=None, description="The machine the hub matched; the node may choose another."
    )
    colour: str | None = None
    deadline: float | None = Field(None, description="Answer before this time (Unix s) or the offer lapses.")
    attribution: list[Attribution] = Field(default_factory=list, description="Design, then its ancestors.")


class CommandType(StrEnum):
    """What a `JobCommand` asks of the node; on the wire, the member's value."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    ACCEPT = "accept"
    DECLINE = "decline"


class JobCommand(_Message):
    """Hub -> node on `nodes/{node}/jobs`: act on a job the node already holds."""

    kind: Literal["command"] = "command"
    job_id: str
    command: CommandType
    reason: str | None = Field(default=None, max_length=2000)


class EventAck(_Message):
    """Hub -> node on `nodes/{node}/jobs`: events of this job up to `seq` are recorded.

    The broker's PUBACK only says the broker has an event; a broker killed before it saved
    its queue loses it. A node keeps re-sending each event until the hub acknowledges it
    here, after committing what the event changed, so every event reaches the hub.
    """

    kind: Literal["ack"] = "ack"
    job_id: str
    seq: int = Field(ge=1)
    withdrawn: bool = Field(
        False,
        description="The job is no longer this node's (given to another node, "
        "cancelled, or unknown): stop, and never start it on a machine.",
    )


class EventType(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"


class JobEvent(_Message):
    """Node -> hub on `nodes/{node}/events`.

    `stage` names the lifecycle step a progress event reports (fetching, checking, slicing,
    queued, running); `percent` is the machine's completion while running.
    """

    kind: Literal["event"] = "event"
    job_id: str = Field(min_length=1, max_length=64)
    node_id: str
    seq: int = Field(ge=1)
    type: EventType
    stage: str | None = None
    percent: float | None = Field(default=None, ge=0, le=100)
    machine_id: str | None = None
    reason: str | None = Field(default=None, max_length=2000)
    detail: dict[str, float | int | str | bool | None] = Field(default_factory=dict)


_JobMessage = Annotated[JobOffer | JobCommand | EventAck, Field(discriminator="kind")]
# An Annotated union is not a class to mypy; pydantic builds the adapter from it at run time.
_job_adapter: TypeAdapter[JobOffer | JobCommand | EventAck] = TypeAdapter(_JobMessage)  # type: ignore[arg-type,unused-ignore]


def _decode(payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return payload


def _parse(model_or_adapter, payload: bytes):
    try:
        if isinstance(model_or_adapter, TypeAdapter):
            return model_or_adapter.validate_json(_decode(payload))
        return model_or_adapter.model_validate_json(_decode(payload))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise WireError(f"invalid message at {where}: {first.get('msg')}") from None


def parse_status(payload: bytes) -> NodeStatus:
    return _parse(NodeStatus, payload)


def parse_event(payload: bytes) -> JobEvent:
    return _parse(JobEvent, payload)


def parse_job_message(payload: bytes) -> JobOffer | JobCommand | EventAck:
    return _parse(_job_adapter, payload)
