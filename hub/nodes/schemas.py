from __future__ import annotations

from pydantic import BaseModel, Field

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class MachineSpec(BaseModel):
    machine_id: str = Field(pattern=_ID)
    process: str = Field(default="FDM", pattern="^(FDM|SLA|laser|CNC)$")
    make: str = ""
    model: str = ""
    build_volume_mm: tuple[float, float, float] = Field(description="Usable X, Y, Z in mm (work area for laser/CNC).")
    materials: list[str] = Field(default_factory=lambda: ["PLA"])
    colours: list[str] = Field(default_factory=list)
    nozzle_mm: float | None = Field(None, gt=0, le=5)
    laser_power_w: float | None = Field(None, gt=0)
    volumetric_rate_mm3_s: float = Field(8.0, gt=0, description="Typical deposition rate, for time estimates.")
    queue_limit: int = Field(5, ge=1, le=1000)


class NodeCreate(BaseModel):
    """A lab as it applies to join; fields follow Open Know-Where where it has them."""

    id: str = Field(pattern=_ID, description="Also the node's MQTT user name and topic level.")
    name: str = Field(min_length=1, max_length=200)
    city: str = ""
    address: str = ""
    country: str = Field("", max_length=2, description="ISO 3166-1 alpha-2.")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    timezone: str = Field("UTC", description="IANA zone the opening hours are in, e.g. Europe/Madrid.")
    opening_hours: str = Field("24/7", description="OpenStreetMap opening_hours, e.g. `Mo-Fr 10:00-19:00`.")
    access_type: str = "membership"
    auto_accept: bool = Field(True, description="Offers that pass the node's checks are accepted without a person.")
    accepts_unpaid: bool = True
    currency: str = Field("EUR", min_length=3, max_length=3)
    material_price_per_kg: dict[str, float] = Field(default_factory=lambda: {"PLA": 25.0, "PETG": 28.0})
    machine_rate_per_hour: float = Field(6.0, ge=0)
    labour_per_job: float = Field(3.0, ge=0)
    machines: list[MachineSpec] = Field(default_factory=list, max_length=100)


class MachinePublic(MachineSpec):
    state: str
    queue_length: int
    material_loaded: str | None
    colour_loaded: str | None
    eta_free_s: float


class NodePublic(BaseModel):
    id: str
    name: str
    city: str
    address: str
    country: str
    lat: float
    lon: float
    timezone: str
    opening_hours: str
    access_type: str
    membership: str
    approvals: list[str]
    auto_accept: bool
    accepts_unpaid: bool
    currency: str
    material_price_per_kg: dict[str, float]
    machine_rate_per_hour: float
    labour_per_job: float
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
