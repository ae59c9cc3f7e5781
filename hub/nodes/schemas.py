from __future__ import annotations

from pydantic import BaseModel, Field


class MachineSpec(BaseModel):
    machine_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    process: str = Field(default="FDM", pattern="^(FDM|SLA|laser|CNC)$")
    build_volume_mm: tuple[float, float, float] = Field(description="Usable X, Y, Z in mm.")
    materials: list[str] = Field(default_factory=lambda: ["PLA"])


class NodeCreate(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                    description="Also the node's MQTT user name and topic level.")
    name: str = Field(min_length=1, max_length=200)
    city: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    machines: list[MachineSpec] = Field(default_factory=list, max_length=100)


class MachinePublic(MachineSpec):
    state: str
    queue_length: int


class NodePublic(BaseModel):
    id: str
    name: str
    city: str
    lat: float
    lon: float
    online: bool
    last_status_at: float | None
    machines: list[MachinePublic]


class BrokerAccess(BaseModel):
    host: str
    port: int
    username: str
    password: str | None = Field(description="Shown once. None when the hub does not manage the broker.")
    prefix: str


class NodeRegistered(BaseModel):
    node: NodePublic
    api_token: str = Field(description="The node's own lab-role API token; shown once.")
    mqtt: BrokerAccess
