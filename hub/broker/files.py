"""Atomic file writes for the files mosquitto reads.

Mosquitto re-reads its password and ACL files on SIGHUP and may do so at any moment (the
watchdog can restart it, an operator can signal it). Writing in place could let it read half a
file and lock every node out, so each file is written to a temporary sibling, flushed to disk
and renamed over the old one: a reader sees either the old file or the new one, never a mix.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace `path` with `text` in one rename; `mode` is set before the rename.

    The default mode is owner-only because the password file holds hashes that an offline
    attacker could try to crack (Mosquitto's PBKDF2 uses only 101 iterations).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    log.debug("wrote %s (%d bytes)", path, len(text))


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable, so a power cut cannot bring back the old file."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - some filesystems refuse to open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
