"""The broker's users and their password hashes, kept in the data directory.

The password file itself is the store: it holds only hashes, the hub reads it back at start
so nodes registered before a restart keep their credentials, and no second copy can drift
from what the broker enforces. The ACL file is written beside it because the two change
together: the hub user's ACL entry names the same user as its password line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path

from hub.broker.acl import render_acl
from hub.broker.config import BrokerSettings
from hub.broker.files import atomic_write_text
from hub.broker.passwords import (
    check_username,
    hash_password,
    parse_password_line,
    password_line,
    verify_password,
)

log = logging.getLogger(__name__)


class BrokerCredentials:
    """Username -> `$7$` password hash, persisted as the broker's password and ACL files.

    Thread-safe: the hub's API threads add nodes while the supervisor's watchdog may be
    restarting the broker, which reads the files.
    """

    def __init__(self, settings: BrokerSettings) -> None:
        self._settings = settings
        self._lock = threading.RLock()
        self._hashes: dict[str, str] = self._load_all(settings)

    @property
    def password_file(self) -> Path:
        return self._settings.password_file

    @property
    def acl_file(self) -> Path:
        return self._settings.acl_file

    def set_user(self, name: str, password: str) -> None:
        """Add `name` or replace its password (in memory; call write_files() to apply)."""
        check_username(name)
        password_hash = hash_password(password)
        with self._lock:
            replaced = name in self._hashes
            self._hashes[name] = password_hash
        log.info("%s broker user %s", "changed password of" if replaced else "added", name)

    def remove_user(self, name: str) -> bool:
        """Forget `name`; True if it existed. On reload the broker disconnects its clients."""
        with self._lock:
            existed = self._hashes.pop(name, None) is not None
        if existed:
            log.info("removed broker user %s", name)
        return existed

    def has_user(self, name: str) -> bool:
        with self._lock:
            return name in self._hashes

    def usernames(self) -> list[str]:
        """All user names, sorted."""
        with self._lock:
            return sorted(self._hashes)

    def verify(self, name: str, password: str) -> bool:
        """True if `password` is `name`'s current password."""
        with self._lock:
            password_hash = self._hashes.get(name)
        return password_hash is not None and verify_password(password, password_hash)

    def write_files(self) -> None:
        """Atomically rewrite the password and ACL files from the current users."""
        settings = self._settings
        acl_text = render_acl(settings.prefix, settings.hub_username)
        hub = settings.hub_username
        own_listener = settings.hub_port is not None
        with self._lock:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            nodes = {n: h for n, h in self._hashes.items() if not (own_listener and n == hub)}
            atomic_write_text(settings.password_file, _password_text(nodes))
            atomic_write_text(settings.hub_password_file, _password_text({hub: self._hashes.get(hub)}))
            atomic_write_text(settings.acl_file, acl_text)
            count = len(self._hashes)
        log.debug("wrote %d broker users to %s", count, settings.password_file)

    def _load_all(self, settings: BrokerSettings) -> dict[str, str]:
        """Every user: the nodes' file, and the hub's own file where the hub has its listener."""
        return {**self._load(settings.password_file), **self._load(settings.hub_password_file)}

    @staticmethod
    def _load(path: Path) -> dict[str, str]:
        """Read an existing password file; a malformed line is an error, not a skipped user.

        Skipping would silently lock a lab out, and rewriting the file would then delete it.
        """
        hashes: dict[str, str] = {}
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return hashes
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                name, password_hash = parse_password_line(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
            hashes[name] = password_hash
        log.debug("loaded %d broker users from %s", len(hashes), path)
        return hashes


def _password_text(hashes: Mapping[str, str | None]) -> str:
    """The password file's text, one sorted line per user that has a hash."""
    return "".join(password_line(n, h) + "\n" for n, h in sorted(hashes.items()) if h is not None)
