"""What a WS-Discovery announcement says a device is: its types, and an ONVIF camera's model.

The types are QNames from the specifications that define them, so a local name is
proof of a role whatever prefix the sender bound: `Computer` is Windows' Function
Discovery publication (namespace .../windows/pub/2005/07, a Windows machine sharing
itself on the network: Network Discovery on); `PrintDeviceType` and
`ScanDeviceType` are the WSD print and scan services (Microsoft's WS-Print and
WS-Scan, which printers and multifunction devices implement); `NetworkVideoTransmitter`
is ONVIF's camera (ONVIF Core Specification, 7.3.2.1). A device announcing
`pub:Computer` has Windows' own WSD stack: nothing else publishes that type.
"""

from __future__ import annotations

from nps_sensor.discovery.facts import Value
from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device
from nps_sensor.discovery.protocol import Reading

# local name of a type -> what it proves (the first match in this order wins)
TYPES: tuple[tuple[str, Claim], ...] = (
    ("networkvideotransmitter", Claim(0.8, None, Device("camera"))),
    ("printdevicetype", Claim(0.8, None, Device("printer"))),
    ("printer", Claim(0.7, None, Device("printer"))),
    ("scandevicetype", Claim(0.6, None, Device("printer"))),  # a scanner on the network is an MFP's
    ("computer", Claim(0.7, OS("Windows", "Windows"), Device("computer"))),
)


def types(value: Value, r: Reading) -> list[Claim]:
    """`wsdp:Device wprt:PrintDeviceType`: the most telling type's claim."""
    if not isinstance(value, str):
        return []
    names = {t.rpartition(":")[2].lower() for t in value.split()}
    return next(([c] for name, c in TYPES if name in names), [])


def model(value: Value, r: Reading) -> list[Claim]:
    """ONVIF's hardware scope: the model a camera reports of itself."""
    if not isinstance(value, str) or not value.strip():
        return []
    return [Claim(0.6, None, Device("camera", None, value.strip()))]
