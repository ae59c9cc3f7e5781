"""Short random ids for orders and jobs: they travel in MQTT topics' payloads and URLs."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
