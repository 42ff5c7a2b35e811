"""Industrial devices by their identification: Siemens order numbers (S7comm SZL), and the
vendor and product names of Modbus device identification, EtherNet/IP ListIdentity and
BACnet device objects, to PLC, HMI or ICS device and the vendor's usual name."""

from __future__ import annotations

import re

from nps_sensor.discovery.fingerprints.claims import Claim, Device

S7_FAMILIES = [
    (r"6ES7 ?21\d", "S7-1200"),
    (r"6ES7 ?51\d", "S7-1500"),
    (r"6ES7 ?31\d", "S7-300"),
    (r"6ES7 ?41\d", "S7-400"),
    (r"6ES7 ?15\d", "ET 200"),
    (r"6AV", "SIMATIC HMI"),
]


def s7_module(text: str) -> Claim:
    """S7comm SZL module identification: a Siemens order number ("6ES7 315-2EH14-0AB0")."""
    family = next((name for rx, name in S7_FAMILIES if re.match(rx, text.strip())), None)
    kind = "HMI" if family == "SIMATIC HMI" else "PLC"
    model = f"{family} ({text.strip()})" if family else text.strip()
    return Claim(0.95, None, Device(kind, "Siemens", model))


PLC_WORDS = re.compile(
    r"Programmable Logic Controller|\bPLC\b|ControlLogix|CompactLogix|MicroLogix|GuardLogix|Micro8\d\d|"
    r"SIMATIC (?:S7|[345]00|1[25]00)|\b17(?:56|69|66|63|62)-L|Modicon|\bM[2-5]\d{2}\b|\bBMX ?P|\bTM\d{3}|"
    r"CPU ?\d{3}|\bFX\dU|\bQ\d{2}U",
    re.I,
)
HMI_WORDS = re.compile(r"PanelView|\bHMI\b|Magelis|\bHMIG", re.I)


def ics_product(text: str, vendor: str | None, weight: float) -> Claim:
    """Modbus/EtherNet-IP/BACnet product names: a PLC where the name says so, else an ICS device."""
    if HMI_WORDS.search(text):
        kind = "HMI"
    elif PLC_WORDS.search(text):
        kind = "PLC"
    else:
        kind = "ICS device"
    return Claim(weight, None, Device(kind, vendor, text.strip() or None))


ICS_VENDORS = [
    (r"Rockwell|Allen[- ]Bradley", "Rockwell Automation"),
    (r"Schneider|Telemecanique|Modicon", "Schneider Electric"),
    (r"Siemens", "Siemens"),
    (r"Mitsubishi", "Mitsubishi Electric"),
    (r"Omron", "Omron"),
    (r"\bABB\b", "ABB"),
    (r"Honeywell", "Honeywell"),
    (r"Emerson", "Emerson"),
    (r"Yokogawa", "Yokogawa"),
    (r"Beckhoff", "Beckhoff"),
    (r"Phoenix Contact", "Phoenix Contact"),
    (r"WAGO", "WAGO"),
    (r"GE |General Electric", "GE"),
]


def ics_vendor(text: str) -> str:
    for rx, name in ICS_VENDORS:
        if re.search(rx, text, re.I):
            return name
    return text.strip()
