"""The cofab attribution header: every G-code file the node produces says which open design
it makes, under which licence, by whom, so the commons' attribution reaches the machine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cofab_wire import JobOffer


def header_lines(offer: JobOffer) -> list[str]:
    authors = ", ".join(offer.authors) or "unknown"
    return [
        "; cofab job " + offer.job_id + " (order " + offer.order_id + ")",
        f"; design: {_one_line(offer.design_title)} [{offer.design_id}]",
        f"; licence: {_one_line(offer.licence)}",
        f"; authors: {_one_line(authors)}",
        f"; source file: {_one_line(offer.file_name)} sha256 {offer.file_sha256}",
    ]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def prepend_header(gcode: Path, lines: list[str]) -> None:
    """Rewrite `gcode` with the header on top, streamed (files may be hundreds of MB)."""
    tmp = gcode.with_suffix(gcode.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as out, gcode.open("r", encoding="utf-8", errors="replace") as src:
        out.write("\n".join(lines) + "\n")
        shutil.copyfileobj(src, out, 1024 * 1024)
    os.replace(tmp, gcode)
