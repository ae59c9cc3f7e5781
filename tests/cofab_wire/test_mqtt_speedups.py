"""cofab_mqtt.speedups: paho's Properties and ReasonCode, sharing their constant tables,
encode and decode exactly as paho's own."""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cofab_mqtt import speedups


def paho_properties(packet_type: int) -> Properties:
    made = Properties.__new__(Properties)
    speedups._original_properties_init(made, packet_type)
    return made


def paho_reason(packet_type: int, *args) -> ReasonCode:
    made = ReasonCode.__new__(ReasonCode)
    speedups._original_reason_init(made, packet_type, *args)
    return made


def test_properties_encode_and_decode_as_paho_does():
    speedups.install()
    speedups.install()  # idempotent
    ours, theirs = Properties(PacketTypes.PUBLISH), paho_properties(PacketTypes.PUBLISH)
    assert (ours.types, ours.names, ours.properties) == (theirs.types, theirs.names, theirs.properties)
    for made in (ours, theirs):
        made.MessageExpiryInterval = 90
        made.UserProperty = ("job", "j_1")
    assert ours.pack() == theirs.pack()
    decoded = Properties(PacketTypes.PUBLISH)
    decoded.unpack(theirs.pack())
    assert decoded.json() == theirs.json() == {"MessageExpiryInterval": 90, "UserProperty": [("job", "j_1")]}
    assert not hasattr(Properties(PacketTypes.PUBLISH), "MessageExpiryInterval")  # nothing leaks between objects


def test_reason_codes_read_as_paho_reads_them():
    speedups.install()
    for packet_type, args in (
        (PacketTypes.PUBACK, ()),
        (PacketTypes.DISCONNECT, ()),
        (PacketTypes.PUBACK, ("Success", 16)),
        (PacketTypes.CONNACK, ("Not authorized",)),
    ):
        ours, theirs = ReasonCode(packet_type, *args), paho_reason(packet_type, *args)
        assert (ours.value, ours.getName(), str(ours)) == (theirs.value, theirs.getName(), str(theirs))
    code = ReasonCode(PacketTypes.PUBACK)
    code.unpack(bytes([16]))
    assert code.getName() == "No matching subscribers"
