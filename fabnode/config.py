"""A node's configuration file (TOML): who it is, where it is, its broker login and its machines.

Example: examples/node.toml. Secrets may also come from the environment
(`COFAB_NODE_MQTT_PASSWORD`) so the file can be shared without them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from cofab_wire.topics import DEFAULT_PREFIX, validate_id

PROFILES_DIR = Path(__file__).parent / "profiles"


class ConfigError(ValueError):
    pass


class BrokerConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = Field(None, description="Defaults to the node id (the ACL depends on it).")
    password: str | None = None
    prefix: str = DEFAULT_PREFIX
    session_expiry_s: int = 7 * 86400


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class MachineConfig(BaseModel):
    id: str
    process: str = "FDM"
    build_volume_mm: tuple[float, float, float]
    materials: list[str] = Field(default_factory=lambda: ["PLA"])
    slicer_profile: str = Field(
        "builtin:generic_fdm_pla", description="A PrusaSlicer .ini path, or builtin:NAME from fabnode/profiles."
    )
    bed_center_mm: tuple[float, float] | None = None
    material_loaded: str | None = Field(None, description="What is on the machine now; reported live.")
    colour_loaded: str | None = None
    nozzle_mm: float | None = Field(None, gt=0, le=5)
    driver: dict[str, Any] = Field(description="Passed to firmware_bridge.create_driver; needs `type`.")
    safety_profile: str | None = Field(
        None,
        description="Machine profile TOML for the G-code safety check (see examples/machines/), "
        "relative to the config file; derived from this section when unset.",
    )

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        return validate_id(value, "machine id")

    def profile_path(self, base: Path) -> Path:
        if self.slicer_profile.startswith("builtin:"):
            return PROFILES_DIR / f"{self.slicer_profile.removeprefix('builtin:')}.ini"
        path = Path(self.slicer_profile)
        return path if path.is_absolute() else base / path


class NodeConfig(BaseModel):
    node_id: str
    name: str = ""
    work_dir: Path = Path("var/node")
    location: Location
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    machines: list[MachineConfig] = Field(min_length=1)
    auto_accept: bool = Field(
        True,
        description="Accept offers that pass the checks; false: a person accepts "
        "on the hub (POST /api/v1/jobs/{id}/accept) while the node holds the checked offer.",
    )
    progress_step_percent: float = Field(10.0, description="Report running progress every this many percent.")
    status_poll_s: float = Field(1.0, description="How often a running machine is polled.")
    config_dir: Path = Path(".")
    start_stagger_s: float = Field(
        30.0,
        ge=0,
        description="Seconds between two machines starting jobs, so a node never switches on all its heaters at once.",
    )

    @model_validator(mode="after")
    def _resolve_safety_profiles(self) -> NodeConfig:
        """A machine's `safety_profile` is written relative to the config file; made absolute once, here."""
        for machine in self.machines:
            if machine.safety_profile and not Path(machine.safety_profile).is_absolute():
                machine.safety_profile = str(self.config_dir / machine.safety_profile)
        return self

    @field_validator("node_id")
    @classmethod
    def _safe_node_id(cls, value: str) -> str:
        return validate_id(value, "node id")

    @property
    def mqtt_username(self) -> str:
        return self.broker.username or self.node_id


def load_config(path: Path) -> NodeConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    raw.setdefault("config_dir", str(path.resolve().parent))
    env_password = os.environ.get("COFAB_NODE_MQTT_PASSWORD")
    if env_password:
        raw.setdefault("broker", {})["password"] = env_password
    try:
        config = NodeConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    if not config.work_dir.is_absolute():
        config.work_dir = config.config_dir / config.work_dir
    return config
