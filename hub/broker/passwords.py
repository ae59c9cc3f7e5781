"""Mosquitto password-file lines, computed in Python.

The hub owns the broker's password file, and adding a node must not fork a
`mosquitto_passwd` process per user, so the hashes are computed here. The format is the one
Mosquitto 2.0 writes and reads (`mosquitto_passwd` since 2.0, checked against 2.0.11):

    <username>:$7$<iterations>$<base64 salt>$<base64 hash>

- `$7$` means PBKDF2-HMAC-SHA512;
- `<iterations>` is the PBKDF2 iteration count, written in decimal; `mosquitto_passwd` uses
  101, and the broker reads the count from the line, so other counts log in too;
- the salt is 12 random bytes, the hash the full 64-byte SHA-512 output, both in standard
  base64 with padding (`+`, `/`, `=`);
- one user per line, no spaces; a user name may not contain `:` (the separator) and neither
  part may contain a line break.

101 iterations is weak against offline guessing, which is why the file is written owner-only
and why generated node passwords are long and random: with 192 random bits guessing does not
work at any iteration count. 101 is kept (rather than raised) because every MQTT connect pays
for the hash inside the broker's single thread, and a hub restart reconnects every node at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets

log = logging.getLogger(__name__)

ALGORITHM_ID = "7"
ITERATIONS = 101
SALT_BYTES = 12


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """Return the `$7$...` hash of `password` (the part after `user:`) with a fresh salt.

    `salt` is only for reproducible tests; leave it None otherwise.
    """
    if not password:
        raise ValueError("password must not be empty")
    if "\n" in password or "\r" in password:
        raise ValueError("password must not contain a line break")
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"${ALGORITHM_ID}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True if `password` matches a `$7$` hash; False for a wrong password or another format."""
    parts = encoded.split("$")
    # "$7$101$salt$hash".split("$") == ["", "7", "101", "salt", "hash"]
    if len(parts) != 5 or parts[0] or parts[1] != ALGORITHM_ID:
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        return False
    if iterations < 1:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(digest, expected)


def password_line(username: str, password_hash: str) -> str:
    """One line of the password file, without the trailing newline."""
    check_username(username)
    if not is_mosquitto_hash(password_hash):
        raise ValueError(f"not a Mosquitto $7$ password hash for user {username!r}")
    return f"{username}:{password_hash}"


def parse_password_line(line: str) -> tuple[str, str]:
    """Split a password-file line into (username, hash); raise ValueError if malformed."""
    username, sep, password_hash = line.strip().partition(":")
    if not sep:
        raise ValueError("expected 'username:hash'")
    check_username(username)
    if not is_mosquitto_hash(password_hash):
        raise ValueError(f"user {username!r} has no $7$ hash")
    return username, password_hash


def is_mosquitto_hash(value: str) -> bool:
    """True if `value` has the shape of a `$7$` hash (it does not check any password)."""
    parts = value.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != ALGORITHM_ID or not parts[2].isdigit():
        return False
    try:
        base64.b64decode(parts[3], validate=True)
        return len(base64.b64decode(parts[4], validate=True)) == hashlib.sha512().digest_size
    except (ValueError, binascii.Error):
        return False


def check_username(username: str) -> str:
    """Refuse names the password file cannot hold; node ids are stricter still (validate_id)."""
    if not username or ":" in username or any(c.isspace() for c in username):
        raise ValueError(f"user name {username!r} must be non-empty without ':' or whitespace")
    return username


def generate_password(nbytes: int = 24) -> str:
    """A random password for a node: `nbytes` random bytes, URL-safe base64 (32 characters)."""
    return secrets.token_urlsafe(nbytes)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
