"""Fetch a design file with the offer's short-lived token, streamed to disk, and verify its sha256.

The file is trusted only after its hash matches the offer: a wrong or tampered file is
deleted and the job declined.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from cofab_wire import JobOffer


class DownloadError(RuntimeError):
    pass


def download_offer_file(offer: JobOffer, dest_dir: Path, *, timeout_s: float = 60.0) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / offer.file_sha256
    if final.exists() and _sha256_of(final) == offer.file_sha256:
        return final
    partial = dest_dir / f"{offer.file_sha256}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with httpx.stream(
            "GET", offer.download_url, params={"token": offer.download_token}, timeout=timeout_s
        ) as response:
            if response.status_code != 200:
                response.read()
                raise DownloadError(f"hub refused the download ({response.status_code}): {_detail(response)}")
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(1024 * 1024):
                    size += len(chunk)
                    if size > offer.file_size:
                        raise DownloadError(f"file is larger than the {offer.file_size} bytes the offer announced")
                    digest.update(chunk)
                    out.write(chunk)
    except httpx.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"could not download the design file: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != offer.file_sha256:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"sha256 mismatch: got {digest.hexdigest()}, offer says {offer.file_sha256}")
    os.replace(partial, final)
    return final


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:200]


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
