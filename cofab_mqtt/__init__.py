"""The MQTT session settings hub and node share (paho-mqtt, MQTT v5).

Separate from `cofab_wire`, which stays free of any broker client: this is how both sides
talk to Mosquitto, not what they say.
- `session`: `new_client`, `connect_persistent` and `SessionClient`, the one way to open a
  persistent v5 session with TCP_NODELAY, resubscription and Last Will (docs/mqtt.md);
- `speedups`: paho's v5 lookup tables shared instead of rebuilt for every packet.
"""

from cofab_mqtt.session import SessionClient, connect_persistent, new_client

__all__ = ["SessionClient", "connect_persistent", "new_client"]
