"""Check the file names designers give their files.

Decision: refuse, never sanitise. A name is shown back to people (catalogue, receipts, the
fab lab's screen) and becomes part of a download's headers, so silently changing it would
surprise its author, and "cleaning" is exactly where path-traversal bugs hide. The hub's
contract is therefore simple: a name that `check_filename` refuses gets a 4xx answer with
the error's sentence and nothing is stored. Storage itself never uses these names (files
are stored by content hash); the checks protect everything that displays or exports them.
"""

from __future__ import annotations

import logging
import unicodedata

from designs.errors import UnsafeFilenameError

__all__ = ["MAX_FILENAME_BYTES", "check_filename"]

log = logging.getLogger(__name__)

#: The usual file-system limit for one name (ext4, NTFS in UTF-16 is similar), in UTF-8 bytes.
MAX_FILENAME_BYTES = 255

# characters that reorder how text is displayed: "part\u202eltS.exe" shows as "partexe.Stl"
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")


def check_filename(name: str) -> str:
    """Return `name` in Unicode NFC form if it is safe to keep, else raise UnsafeFilenameError.

    Refused: empty names; names with a path separator ("/" or "\\"); names containing "..";
    names starting with a dot (hidden files, "." and ".."); NUL, other control characters,
    line separators and bidirectional-text controls; leading or trailing whitespace; more
    than 255 bytes in UTF-8. NFC first, so that the same visible name always compares and
    measures the same whichever keyboard or OS produced it.
    """
    if not isinstance(name, str):
        raise TypeError(f"file name must be a str, not {type(name).__name__}")
    name = unicodedata.normalize("NFC", name)
    shown = ascii(name)  # never echo control characters back into a log or a terminal
    if not name:
        raise UnsafeFilenameError("the file name is empty")
    for separator in ("/", "\\"):
        if separator in name:
            raise UnsafeFilenameError(
                f"the file name {shown} contains a path separator ({separator!r}); "
                "give the file a plain name such as 'bracket.stl'"
            )
    if ".." in name:
        raise UnsafeFilenameError(f"the file name {shown} contains '..', which is not allowed")
    if name.startswith("."):
        raise UnsafeFilenameError(f"the file name {shown} starts with a dot, which hides the file on many systems")
    for char in name:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise UnsafeFilenameError(
                f"the file name {shown} contains an invisible control character (U+{ord(char):04X})"
            )
    if name != name.strip():
        raise UnsafeFilenameError(f"the file name {shown} starts or ends with a space")
    size = len(name.encode("utf-8"))
    if size > MAX_FILENAME_BYTES:
        raise UnsafeFilenameError(f"the file name is {size} bytes long in UTF-8; the limit is {MAX_FILENAME_BYTES}")
    return name
