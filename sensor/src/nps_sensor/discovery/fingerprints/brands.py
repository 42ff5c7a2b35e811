"""Brands: the MAC's registrant is a fallback, a Wi-Fi module's maker is never the brand, and some blocks say nothing.

The IEEE registers a block to whoever buys it. For most devices that is the brand
(Apple, Axis, Brother), under a long legal name ("Hangzhou Hikvision Digital
Technology Co.,Ltd."); for some it is the maker's manufacturer (LCFC builds Lenovo's
laptops, ICP Electronics QNAP's NAS) or the maker of the virtual hardware
(PCS Systemtechnik's block is VirtualBox's). For many small devices it is the maker
of the Wi-Fi module inside (Espressif, Hi-flying, GainSpan, USI, AzureWave, ...):
a kettle and a plug with ESP8266s share Espressif's blocks, and their brand is not
on the MAC at all. And a few blocks are no evidence: Xerox's first blocks
(00:00:00–00:00:09), which lab gear, simulators and made-up addresses use, and
IANA's (00:00:5E), which VRRP and documentation use. One block says the opposite of its
registrant's other blocks: VMware Workstation, Player and Fusion give the host's own
virtual adapters (VMnet1, VMnet8...) 00:50:56:C0:00:<VMnet number>, where guests get
00:50:56:00-3F or 80-BF: that device is the computer running VMware, not a guest.

Cloud services a device talks to name its maker too: a scale that posts to
scalews.withings.net is a Withings scale whatever module its MAC names.
"""

from __future__ import annotations

import re
from functools import cache

from nps_sensor.discovery.fingerprints.claims import Claim, Device
from nps_sensor.discovery.fingerprints.patterns import Lazy, lazy

# 24-bit blocks whose registrant says nothing about the device
RESERVED_BLOCKS = frozenset({*range(0x00000A), 0x00005E})

# The 36-bit block of VMware's host adapters (the vendor look-up is remembered per 36-bit block)
VMWARE_HOST_ADAPTERS = 0x005056C00

# Registrants that make Wi-Fi modules (and chips) for other brands' devices
MODULE_MAKERS = re.compile(
    r"^(Espressif|Hi-?flying|GainSpan|Delta Electronics|Shenzhen Bilian|Tuya|AzureWave|Universal Scientific|"
    r"USI |Murata|Lite-?on|Liteon|Realtek|MediaTek|Qualcomm|Atheros|Broadcom|Texas Instruments|Silicon Lab|"
    r"Microchip|u-blox|Particle|Quectel|Sierra Wireless|Ampak|Gainspan|Marvell|Beken|Winner Micro|"
    r"Shanghai High-Flying|Chongqing Fugui|Intel Corporate)",
    re.I,
)

# Registrants whose products carry another name
BRAND_OF = [
    (re.compile(r"^LCFC", re.I), "Lenovo"),
    (re.compile(r"^ICP Electronics", re.I), "QNAP"),
    (re.compile(r"^PCS Systemtechnik", re.I), "Oracle VirtualBox"),
    (re.compile(r"Hikvision", re.I), "Hikvision"),
    (re.compile(r"^Seiko Epson", re.I), "Epson"),
    (re.compile(r"^Hewlett[ -]Packard|^HP Inc", re.I), "HP"),
    (re.compile(r"^TP-?LINK", re.I), "TP-Link"),
    (re.compile(r"^Micro-Star", re.I), "MSI"),
    (re.compile(r"^ASUSTek", re.I), "ASUS"),
    (re.compile(r"^D-Link", re.I), "D-Link"),
    (re.compile(r"^Philips Lighting|^Signify", re.I), "Philips"),
    (re.compile(r"^Belkin", re.I), "Belkin"),
    (re.compile(r"^Axis Communications", re.I), "Axis"),
    (re.compile(r"^YEALINK", re.I), "Yealink"),
    (re.compile(r"^AVM Audiovisuelles", re.I), "AVM"),
    (re.compile(r"^Sonos", re.I), "Sonos"),
    (re.compile(r"^Roku", re.I), "Roku"),
    (re.compile(r"^Synology", re.I), "Synology"),
    (re.compile(r"^Ubiquiti", re.I), "Ubiquiti"),
    (re.compile(r"^Arista Networks", re.I), "Arista"),
    (re.compile(r"^Juniper Networks", re.I), "Juniper"),
    (re.compile(r"^Cisco", re.I), "Cisco"),
    (re.compile(r"^Apple", re.I), "Apple"),
    (re.compile(r"^Samsung Electronics", re.I), "Samsung"),
    (re.compile(r"^Google", re.I), "Google"),
    (re.compile(r"^Brother Industries", re.I), "Brother"),
    (re.compile(r"^Rockwell Automation", re.I), "Rockwell Automation"),
    (re.compile(r"^TELEMECANIQUE|^Schneider Electric", re.I), "Schneider Electric"),
    (re.compile(r"^VMware", re.I), "VMware"),
    (re.compile(r"^eQ-3", re.I), "eQ-3"),
    (re.compile(r"^Netatmo", re.I), "Netatmo"),
    (re.compile(r"^Withings", re.I), "Withings"),
]


def reserved(mac: int) -> bool:
    return (mac >> 24) in RESERVED_BLOCKS


def host_adapter(mac: int) -> bool:
    """A hypervisor's adapter on its host: the MAC's registrant is not what the device is."""
    return mac >> 12 == VMWARE_HOST_ADAPTERS


def module_maker(registrant: str) -> bool:
    return bool(MODULE_MAKERS.match(registrant.strip()))


def brand(registrant: str) -> str:
    """The name a device of this registrant's block is sold under (the registrant if unknown)."""
    for rx, name in BRAND_OF:
        if rx.search(registrant):
            return name
    return registrant


# Cloud endpoints (HTTP Host, TLS SNI) a maker's devices talk to -> (type or None, brand, weight)
CLOUDS: list[tuple[str, str | None, str, float]] = [
    (r"(?:^|\.)scalews\.withings\.(?:net|com)$", "scale", "Withings", 0.8),
    (r"(?:^|\.)withings\.(?:net|com)$", None, "Withings", 0.6),
    (r"(?:^|\.)netatmo\.(?:net|com)$", None, "Netatmo", 0.6),
    (r"(?:^|\.)meethue\.com$", None, "Philips", 0.5),
    (r"(?:^|\.)tplinkcloud\.com$|(?:^|\.)tplinkra\.com$", None, "TP-Link", 0.5),
    (r"(?:^|\.)xbcs\.net$", "smart plug", "Belkin", 0.5),
    (r"(?:^|\.)mydlink\.com$", None, "D-Link", 0.5),
    (r"(?:^|\.)shelly\.cloud$", None, "Shelly", 0.6),
    (r"(?:^|\.)tuya(?:eu|us|cn|in)?\.com$", None, "Tuya", 0.4),
    (r"(?:^|\.)ring\.com$", None, "Ring", 0.5),
    (r"(?:^|\.)nest\.com$", None, "Google", 0.4),
    (r"(?:^|\.)sonos\.com$", "smart speaker", "Sonos", 0.5),
    (r"(?:^|\.)roku\.com$", "media player", "Roku", 0.5),
]


@cache
def _clouds() -> list[tuple[Lazy, str | None, str, float]]:
    return [(lazy(rx, re.I), kind, name, w) for rx, kind, name, w in CLOUDS]


def cloud(host: str) -> Claim | None:
    """The maker whose cloud `host` (an HTTP Host or TLS SNI) belongs to."""
    h = host.strip().rstrip(".").split(":")[0]
    for rx, kind, name, weight in _clouds():
        if rx.search(h):
            return Claim(weight, None, Device(kind, name), f"cloud of {name}")
    return None


# HTTP User-Agents and Server headers of devices' own firmware
FIRMWARE = [
    (re.compile(r"^App-webs/|^DNVRS-Webs|^Hikvision-Webs", re.I), "camera", "Hikvision", 0.75),
    (re.compile(r"^NetatmoWeatherStation", re.I), "sensor", "Netatmo", 0.75),
    (re.compile(r"^Withings", re.I), None, "Withings", 0.6),
    (re.compile(r"^HP HTTP Server; HP ([\w -]+?) - \w+;", re.I), "printer", "HP", 0.85),
]


def firmware(text: str) -> Claim | None:
    for rx, kind, name, weight in FIRMWARE:
        m = rx.search(text.strip())
        if m:
            model = m.group(1) if m.groups() else None
            return Claim(weight, None, Device(kind, name, model))
    return None
