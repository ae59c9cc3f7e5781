"""Broker settings and the generated `mosquitto.conf`.

The hub writes the whole configuration at every start from `BrokerSettings`, so the broker
always runs with what the hub expects and nobody edits the file by hand.

Data directory layout (all owned by the hub's user, which mosquitto also runs as):

    <data_dir>/mosquitto.conf        generated configuration
    <data_dir>/passwd                password file of the nodes' listener ($7$ hashes), mode 0600
    <data_dir>/hub.passwd            password file of the hub's listener: the hub's user only
    <data_dir>/acl                   ACL file, mode 0600
    <data_dir>/persistence/          mosquitto.db: sessions, queued and retained messages
    <data_dir>/mosquitto.log         the broker's log (reopened on SIGHUP, so rotatable)
    <data_dir>/mosquitto.stderr.log  what the broker prints before its log is open
    <data_dir>/mosquitto.pid         pid of the broker this hub started
"""

from __future__ import annotations

import logging
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from cofab_wire.topics import DEFAULT_PREFIX, Topics, validate_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BrokerSettings:
    """Everything needed to run the hub's broker; paths derive from `data_dir`.

    `hub_port`: when set, mosquitto gets a second, loopback-only listener for the hub and
    the main listener forces every client id to its user name (`use_username_as_clientid`).
    Why: Mosquitto ties a session to the client id, not the user, so on a single listener
    node A may connect with node B's client id, kick B off and take over (and empty) B's
    queued job offers, although the ACL stops A from reading them. Forcing the id closes
    that, but would make two hub connections with one user name kick each other, so the hub
    (replicas, tools) connects on its own loopback listener where ids are kept. Each listener
    has its own password file (`per_listener_settings true`): the hub's accepts the hub's user
    only, else a lab could log in there with any client id and take over the hub's or another
    lab's session; the nodes' accepts every node but not the hub. None keeps the single
    listener, whose password file holds every user.
    """

    data_dir: Path
    port: int
    hub_password: str = field(repr=False)
    host: str = "127.0.0.1"
    prefix: str = DEFAULT_PREFIX
    hub_username: str = "hub"
    hub_port: int | None = None
    hub_host: str = "127.0.0.1"
    # A SIGKILL (or power cut) loses every session change and queued message since the last
    # save. 10 s bounds that loss to what the hub's database re-sends anyway after a broker
    # restart, at the cost of rewriting mosquitto.db every 10 s while anything changed.
    autosave_interval: int = 10
    # Per client, above the in-flight window: an offline lab keeps at most this many offers
    # queued. The hub's database is the source of truth and re-offers after a loss, so this
    # only bounds broker memory for labs that stay away. Mosquitto's default, made explicit.
    max_queued_messages: int = 1000
    # Big files never travel over MQTT (jobs carry a URL and a sha256); a client sending a
    # larger packet is disconnected. 0 means no limit.
    max_packet_size: int = 1024 * 1024
    # The user mosquitto runs as when started by root; None means the hub's own user, which
    # owns the data directory (mosquitto's default, user "mosquitto", could not read it).
    run_as_user: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).absolute())
        Topics(self.prefix)
        if any(c.isspace() for c in self.prefix) or "%" in self.prefix:
            raise ValueError(f"topic prefix {self.prefix!r} must not contain whitespace or '%'")
        validate_id(self.hub_username, "hub user name")
        if not self.hub_password or "\n" in self.hub_password or "\r" in self.hub_password:
            raise ValueError("hub_password must be non-empty and on one line")
        for name in ("port", "hub_port"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 65535:
                raise ValueError(f"{name} must be 1-65535, got {value}")
        if self.hub_port is not None and self.hub_port == self.port and self.hub_host == self.host:
            raise ValueError("hub_port must differ from port")
        for name in ("host", "hub_host"):
            value = getattr(self, name)
            if not value or any(c.isspace() for c in value):
                raise ValueError(f"{name} {value!r} must be a host name or address")
        for name in ("autosave_interval", "max_queued_messages", "max_packet_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        _check_path(self.data_dir)

    @property
    def conf_file(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "passwd"

    @property
    def hub_password_file(self) -> Path:
        return self.data_dir / "hub.passwd"

    @property
    def acl_file(self) -> Path:
        return self.data_dir / "acl"

    @property
    def persistence_dir(self) -> Path:
        return self.data_dir / "persistence"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "mosquitto.log"

    @property
    def stderr_file(self) -> Path:
        return self.data_dir / "mosquitto.stderr.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "mosquitto.pid"

    @property
    def hub_endpoint(self) -> tuple[str, int]:
        """Where the hub's own MQTT clients connect."""
        if self.hub_port is not None:
            return self.hub_host, self.hub_port
        return self.host, self.port

    @property
    def node_endpoint(self) -> tuple[str, int]:
        """Where nodes connect."""
        return self.host, self.port

    @property
    def listeners(self) -> tuple[tuple[str, int], ...]:
        """Every (host, port) the broker listens on; start() waits for all of them."""
        if self.hub_port is None:
            return ((self.host, self.port),)
        return ((self.host, self.port), (self.hub_host, self.hub_port))


def render_config(settings: BrokerSettings) -> str:
    """Return the text of `mosquitto.conf` for `settings`."""
    s = settings
    lines = [
        "# Generated by cofab (hub.broker.config) at every broker start. Do not edit.",
        # Must come before any listener: each listener names its own users (docs/mqtt.md).
        "per_listener_settings true",
    ]
    user = s.run_as_user or _current_user()
    if user:
        lines.append(f"user {user}")
    lines += [
        "",
        "persistence true",
        # Mosquitto appends the file name to this path as is: keep the trailing slash.
        f"persistence_location {s.persistence_dir}/",
        f"autosave_interval {s.autosave_interval}",
        "",
        # paho never sets TCP_NODELAY and Mosquitto's default is off: request/reply over
        # MQTT falls to tens of round trips per second without it (docs/mqtt.md).
        "set_tcp_nodelay true",
        f"max_queued_messages {s.max_queued_messages}",
    ]
    if s.max_packet_size:
        lines.append(f"max_packet_size {s.max_packet_size}")
    lines += [
        "",
        f"log_dest file {s.log_file}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "",
        f"listener {s.port} {s.host}",
        *_access(s, s.password_file),
    ]
    if s.hub_port is not None:
        lines += [
            "use_username_as_clientid true",
            "",
            f"listener {s.hub_port} {s.hub_host}",
            *_access(s, s.hub_password_file),
        ]
    return "\n".join(lines) + "\n"


def _access(settings: BrokerSettings, password_file: Path) -> list[str]:
    """A listener's login and ACL lines (under `per_listener_settings true` they apply to the
    listener above them only, so every listener needs all three)."""
    return ["allow_anonymous false", f"password_file {password_file}", f"acl_file {settings.acl_file}"]


def _current_user() -> str | None:
    """Name of the effective user, or None in a container whose uid has no passwd entry."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        log.warning("uid %d has no user name; mosquitto picks its own user if run as root", os.geteuid())
        return None


def _check_path(path: Path) -> None:
    """Mosquitto's config format is one option per line: a path cannot hold a line break."""
    if any(c in str(path) for c in "\n\r\0"):
        raise ValueError(f"data_dir {str(path)!r} must not contain line breaks or NUL")
