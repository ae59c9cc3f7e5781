"""Splitting one G-code line into words: comments, line numbers, checksums, dialects.

Pure functions on strings. The exact reference for what a line means; the fast scanner
(`fast.py`) only takes over lines whose meaning is obvious (plain G0/G1 moves) and hands
every other line to this parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)\Z")
_WORD = re.compile(r"([A-Z])([^A-Z]*)")
_PAREN = re.compile(r"\([^)]*\)")
_EXTENDED = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
_PARAM = re.compile(r"([A-Z0-9_]+)=(\S*)")
_STANDARD = re.compile(r"[A-Z](?:\s*[-+.\d]|\s|\Z)")

TEXT_COMMANDS = frozenset({"M16", "M23", "M28", "M29", "M30", "M32", "M33", "M117", "M118", "M928"})
"""Marlin commands whose argument is free text (a message or a file name), not words."""

BARE_AXIS_COMMANDS = frozenset({"G28", "G29", "M17", "M18", "M84", "G30"})
"""Commands that take axis letters without values (`G28 X Y`: home X and Y)."""


class Malformed(ValueError):
    """A line that is not G-code the dialect can read; `str()` is the reason."""


@dataclass
class Line:
    """One parsed line. `words` keeps order: `[("G", 1.0), ("X", 10.0), ("E", None)]`.

    `extended` is a Klipper-style command (`SET_HEATER_TEMPERATURE`) with its `params`;
    `system` a GRBL `$` command; `host` an OctoPrint `@` command. `text` is the argument of
    a text command such as M117.
    """

    words: list[tuple[str, float | None]] = field(default_factory=list)
    extended: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    system: str | None = None
    host: str | None = None
    text: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.words or self.extended or self.system or self.host)


def strip_comments(raw: str) -> str:
    """Remove `;` comments and `( )` comments; an unclosed `(` is malformed."""
    cut = raw.find(";")
    if cut >= 0:
        raw = raw[:cut]
    if "(" in raw:
        raw = _PAREN.sub("", raw)
        if "(" in raw:
            raise Malformed("comment opened with '(' is never closed")
    return raw.strip()


def parse_line(raw: str, dialect: str) -> Line:
    """Parse one line (without its newline) for `dialect` (marlin, klipper, grbl)."""
    body = strip_comments(raw)
    if not body:
        return Line()
    if not body.isascii():
        raise Malformed("non-ASCII characters outside a comment")
    if body[0] == "@":
        if dialect == "grbl":
            raise Malformed("'@' host commands are not G-code for GRBL")
        return Line(host=body[1:].strip())
    upper = body.upper()
    if upper[0] == "$":
        if dialect != "grbl":
            raise Malformed(f"'$' system commands are GRBL's, not {dialect}'s")
        return Line(system=upper.replace(" ", ""))
    if upper[0] == "N":
        upper = _strip_line_number(upper)
        body = upper
        if not upper:
            return Line()
    head = re.match(r"([GMT])\s*0*(\d+)(?![\d.])", upper)
    if head and f"{head[1]}{int(head[2])}" in TEXT_COMMANDS:
        return Line(words=[(head[1], float(head[2]))], text=body[head.end() :].strip())
    first = upper.split(None, 1)[0]
    if not _STANDARD.match(upper) and _EXTENDED.match(first):
        if dialect != "klipper":
            raise Malformed(f"{first!r} is not a G-code word ({dialect} takes letter+number words)")
        return Line(extended=first, params=dict(_PARAM.findall(upper[len(first) :])))
    return Line(words=_words(upper))


def _strip_line_number(upper: str) -> str:
    """`N12 G1 X5*91`: check the checksum if there is one, drop N and the checksum."""
    star = upper.rfind("*")
    if star >= 0:
        given = upper[star + 1 :].strip()
        if not given.isdigit():
            raise Malformed(f"checksum {given!r} is not a number")
        # The checksum covers the bytes as sent, which we have only upper-cased; the
        # letters are upper case in every real sender, so this is what was sent.
        computed = 0
        for char in upper[:star].rstrip().encode("ascii"):
            computed ^= char
        if computed != int(given):
            raise Malformed(f"checksum {given} does not match the line (computed {computed})")
        upper = upper[:star]
    match = re.match(r"N\s*\d+\s*", upper)
    if not match:
        raise Malformed("'N' must be followed by a line number")
    return upper[match.end() :].strip()


def _words(upper: str) -> list[tuple[str, float | None]]:
    compact = upper.replace(" ", "").replace("\t", "")
    if not compact[0].isalpha():
        raise Malformed(f"a line must start with a letter, not {compact[0]!r}")
    words: list[tuple[str, float | None]] = []
    end = 0
    for match in _WORD.finditer(compact):
        if match.start() != end:
            raise Malformed(f"unexpected {compact[end : match.start()]!r}")
        end = match.end()
        letter, value = match[1], match[2]
        if value == "":
            words.append((letter, None))
        elif NUMBER.match(value):
            words.append((letter, float(value)))
        else:
            raise Malformed(f"{letter} value {value!r} is not a number")
    if end != len(compact):
        raise Malformed(f"unexpected {compact[end:]!r}")
    return words
