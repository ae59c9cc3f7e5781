"""The MQTT session settings hub and node share (paho-mqtt, MQTT v5).

Separate from `cofab_wire`, which stays free of any broker client: this is how both sides
talk to Mosquitto, not what they say.
"""

from cofab_mqtt.session import SessionClient, connect_persistent, new_client

__all__ = ["SessionClient", "connect_persistent", "new_client"]
