"""A content-addressed store: a file's name is its sha256, so a design file is stored once
however many designs share it, and a node can verify what it downloaded.

Uploads stream through a temporary file in the same directory tree (so the final rename is
atomic) while being hashed; a failed or refused upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


class UploadTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"upload exceeds the limit of {limit:,} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StagedFile:
    """Bytes received and hashed, not yet committed to the store."""

    path: Path
    sha256: str
    size: int
    head: bytes


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects = root / "objects"
        self._staging = root / "staging"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._staging.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self._objects / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    async def stage(self, chunks: AsyncIterator[bytes], *, max_bytes: int, head_bytes: int = 4096) -> StagedFile:
        """Write a stream to a staging file, hashing as it goes; refuse past `max_bytes`."""
        digest = hashlib.sha256()
        size = 0
        head = bytearray()
        fd, name = tempfile.mkstemp(dir=self._staging, prefix="upload-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge(max_bytes)
                    if len(head) < head_bytes:
                        head.extend(chunk[: head_bytes - len(head)])
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedFile(path=path, sha256=digest.hexdigest(), size=size, head=bytes(head))

    def stage_bytes(self, data: bytes) -> StagedFile:
        """Stage bytes made by the hub itself (a thumbnail, a repaired mesh), like an upload."""
        fd, name = tempfile.mkstemp(dir=self._staging, prefix="derived-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedFile(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data), head=data[:4096])

    def remove(self, sha256: str) -> None:
        """Delete a stored object (expired, unreferenced uploads); missing is fine."""
        self.path_for(sha256).unlink(missing_ok=True)

    def commit(self, staged: StagedFile) -> Path:
        """Move a staged file to its content address (a no-op if the content is already stored)."""
        target = self.path_for(staged.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            staged.path.unlink(missing_ok=True)
        else:
            os.replace(staged.path, target)
        return target

    def discard(self, staged: StagedFile) -> None:
        staged.path.unlink(missing_ok=True)

    def count(self) -> int:
        """Number of stored objects (tests use it to show a refused upload stored nothing)."""
        return sum(1 for p in self._objects.rglob("*") if p.is_file())

    def staging_count(self) -> int:
        return sum(1 for p in self._staging.iterdir() if p.is_file())
