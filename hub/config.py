"""Hub settings, read from the environment (prefix `COFAB_`) with documented defaults.

One `Settings` object is built at start-up and passed down; nothing reads the environment
at import time or per request, so tests build their own settings without touching globals.
A domain's own group of settings is a nested model named for its prefix: `catalog`
(`COFAB_CATALOG_…`, `hub.catalog.config`), `city` (`COFAB_CITY_…`, `hub.metrics.config`) and
`limits` (`COFAB_LIMITS_…`, `hub.guard.settings`).
"""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.catalog.config import CatalogSettings
from hub.guard.settings import GuardSettings
from hub.metrics.config import MetricsSettings

DEV_SECRET = "dev-only-secret-change-me"


class Settings(BaseSettings):
    # A nested group takes the variables named by its field and one "_": COFAB_CATALOG_MAX_FACES
    # is catalog.max_faces (split once, so the field names keep their own underscores).
    model_config = SettingsConfigDict(
        env_prefix="COFAB_", env_file=None, extra="ignore", env_nested_delimiter="_", env_nested_max_split=1
    )

    environment: str = Field(
        "development", description="`development` allows the built-in secret; anything else refuses it."
    )
    data_dir: Path = Field(Path("var/hub"), description="File store, broker files and the SQLite database.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite at DATA_DIR/hub.db. PostgreSQL: postgresql+psycopg://…"
    )
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL nodes use to download design files.")
    secret_key: str = Field(DEV_SECRET, description="Signs short-lived download tokens.")
    admin_token: str | None = Field(
        None, description="If set, an admin API token with this value exists at start-up (bootstrap)."
    )

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str = "cofab-hub"
    mqtt_password: str | None = Field(
        None, description="Hub's broker password; generated and kept in DATA_DIR when the hub manages the broker."
    )
    mqtt_prefix: str = "cofab/v1"
    broker_managed: bool = Field(
        True, description="Start and supervise a Mosquitto with generated config, passwords and ACL."
    )
    mqtt_enabled: bool = Field(True, description="Connect to the broker at all (off in API-only tests).")
    broker_hub_port: int | None = Field(
        None,
        description="Managed broker: a loopback-only listener for the hub (default MQTT_PORT+1). Nodes' "
        "listener forces client id = user name, so one lab cannot take over another lab's session.",
    )

    replica_id: str = Field(
        default_factory=socket.gethostname,
        description="This hub process among several on one database; its MQTT client id is "
        "`MQTT_USERNAME-REPLICA_ID`. Unique among running replicas and the same across a replica's restarts "
        "(its broker session keeps its share of node events while it is away). Default: the host name.",
    )
    registry_refresh_s: float = Field(
        10.0,
        ge=0,
        description="How often the lab registry and fairness ledger are reloaded from the database "
        "(labs registered or approved through another replica); 0 turns it off.",
    )

    upload_max_bytes: int = Field(2 * 1024**3, description="Uploads larger than this are refused (413).")
    upload_purge_interval_s: float = Field(
        3600.0,
        ge=0,
        description="How often staged uploads past their expiry are forgotten and their bytes "
        "deleted (also once at start-up); 0 turns the periodic purge off.",
    )
    analysis_max_memory_mb: int = Field(
        4096,
        ge=16,
        description="Address-space cap (RLIMIT_AS) of the child process that analyses one uploaded "
        "file; it includes ~400 MB of numpy/scipy/trimesh mappings. Over it, the upload is refused (422).",
    )
    analysis_timeout_s: float = Field(
        120.0,
        gt=0,
        description="An uploaded file's analysis (with repair, thumbnail, viewer mesh) is killed "
        "after this and the upload refused (422).",
    )
    download_token_ttl_s: int = Field(900, description="Lifetime of a node's file download token.")
    offer_timeout_s: float = Field(120.0, description="An offer not answered in this time goes to the next node.")
    routing_patience_s: float = Field(
        3600.0,
        description="A job no lab can take right now (offline, busy, "
        "closed) waits and is retried this long before it fails.",
    )
    maintenance_interval_s: float = Field(2.0, description="How often expired offers are swept.")
    outbox_retention_s: float = Field(
        86400.0,
        ge=0,
        description="Outbox messages the broker acknowledged are deleted this long after (by "
        "the relay, every minute); never sooner than a broker restart could send them again. 0 keeps them.",
    )

    # The cooperative's settings: shares of every paid order, membership rule, ranking weights.
    designer_share: float = Field(0.10, ge=0, le=1, description="Designer's share, of the lab's price.")
    coop_fee: float = Field(0.05, ge=0, le=1, description="Cooperative fee, of the lab's price.")
    membership_approvals: int = Field(2, ge=1, description="Active labs that must approve a new lab.")
    fairness_window_days: float = Field(30.0, gt=0, description="Rolling window for sharing work.")
    weight_km: float = Field(1.0, ge=0, description="Ranking points per km from the maker.")
    weight_lead_hour: float = Field(0.5, ge=0, description="Ranking points per hour of lead time.")
    weight_price: float = Field(0.2, ge=0, description="Ranking points per currency unit of price.")
    weight_fairness: float = Field(10.0, ge=0, description="Points for a lab at twice its fair share.")

    catalog: CatalogSettings = Field(
        default_factory=CatalogSettings, description="Upload and analysis limits (`COFAB_CATALOG_…`)."
    )
    city: MetricsSettings = Field(
        default_factory=MetricsSettings, description="Assumptions behind the city figures (`COFAB_CITY_…`)."
    )
    limits: GuardSettings = Field(
        default_factory=GuardSettings, description="Request body, rate and stream limits (`COFAB_LIMITS_…`)."
    )

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> Settings:
        if self.environment != "development" and self.secret_key == DEV_SECRET:
            raise ValueError("COFAB_SECRET_KEY must be set outside development")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"
