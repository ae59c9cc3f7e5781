"""paho-mqtt 2.x builds its MQTT v5 lookup tables anew for every packet it decodes.

Every incoming PUBLISH and PUBACK gets a `Properties` object, whose constructor builds a
30-entry name table and a 27-entry property table (with a list search per entry), ~8 us;
every PUBACK also a `ReasonCode`, which copies a 40-entry table, ~3 us. A hub receives two
such packets per job it dispatches (the offer's PUBACK, the node's event), so this was a
few percent of its CPU per job, all in the thread that also reads every other packet.

The tables are constants that paho never changes after construction (its methods only
read them), so `install()` makes new objects share one copy. Everything else about the
objects stays paho's own; `tests/wire/test_mqtt_speedups.py` compares them with paho's.
"""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

_original_properties_init = Properties.__init__
_original_reason_init = ReasonCode.__init__
_installed = False


def _shared_tables() -> tuple[list[str], dict[str, int], dict[int, tuple[int, list[int]]]]:
    template = Properties.__new__(Properties)
    _original_properties_init(template, PacketTypes.PUBLISH)
    return template.types, template.names, template.properties


def install() -> None:
    """Make paho's Properties and ReasonCode share their constant tables (idempotent)."""
    global _installed  # noqa: PLW0603 - installing twice would wrap paho twice; one flag per process
    if _installed:
        return
    types, names, properties = _shared_tables()
    reason_names = ReasonCode.names

    def properties_init(self: Properties, packetType: int) -> None:  # noqa: N803 - paho's own parameter names
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", types)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "properties", properties)

    def reason_init(
        self: ReasonCode,
        packetType: int,  # noqa: N803 - paho's own parameter names
        aName: str = "Success",  # noqa: N803
        identifier: int = -1,
    ) -> None:
        self.names = reason_names
        self.packetType = packetType
        if identifier == -1:
            if packetType == PacketTypes.DISCONNECT and aName == "Success":
                aName = "Normal disconnection"  # noqa: N806
            self.set(aName)
        else:
            self.value = identifier
            self.getName()  # check it's good, as paho does

    Properties.__init__ = properties_init  # type: ignore[method-assign]
    ReasonCode.__init__ = reason_init  # type: ignore[method-assign]
    _installed = True
