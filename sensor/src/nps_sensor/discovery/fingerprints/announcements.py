"""What devices announce about themselves: SSDP/UPnP types and servers, mDNS services and TXT records.

UPnP names a device's kind in its device type URN (`urn:schemas-upnp-org:device:
InternetGatewayDevice:1`, `urn:Belkin:device:controllee:1`): the standard types
say what the device does, a vendor's domain says who made it, and a vendor type that
is a model number (`urn:…:device:DCS-935L:1`) names the model. HNAP's `hnap:
NetworkCamera` (D-Link), Roku's `roku:ecp` and Axis' `urn:axis-com:…` are their
makers' own. SERVER strings name the stack and often the product (`IpBridge` is a
Philips Hue bridge, `FRITZ!Box 7590` an AVM router). DNS-SD service types say what a
device offers (`_ipp._tcp` prints, `_hue._tcp` is a Hue bridge) and its instance
names and TXT records often its model (`AXIS M3045-V - ACCC8E…`, `md=NL22`).
Everything here is read from the wire: no description URL is fetched.
"""

from __future__ import annotations

import re
from functools import cache

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device

# UPnP standard device types (UPnP Forum) -> our types
UPNP_TYPES = {
    "internetgatewaydevice": ("router", 0.6),
    "wandevice": ("router", 0.5),
    "wanconnectiondevice": ("router", 0.5),
    "wlanaccesspointdevice": ("access point", 0.6),
    "mediarenderer": ("media player", 0.4),
    "zoneplayer": ("smart speaker", 0.6),
    "printer": ("printer", 0.6),
    "printerenhanced": ("printer", 0.6),
    "scanner": ("printer", 0.4),
    "digitalsecuritycamera": ("camera", 0.7),
    "hvac_system": ("sensor", 0.4),
    "lighting": ("light", 0.5),
    "binarylight": ("light", 0.6),
    "dimmablelight": ("light", 0.6),
    "remotecontrolreceiver": ("TV", 0.6),
}
# Vendors' device types (their domain, their type) -> (type, brand, model, weight)
VENDOR_TYPES: dict[tuple[str, str], tuple[str | None, str, str | None, float]] = {
    ("belkin", "controllee"): ("smart plug", "Belkin", "WeMo Switch", 0.8),
    ("belkin", "insight"): ("smart plug", "Belkin", "WeMo Insight", 0.8),
    ("belkin", "lightswitch"): ("smart plug", "Belkin", "WeMo Light Switch", 0.8),
    ("belkin", "dimmer"): ("light", "Belkin", "WeMo Dimmer", 0.8),
    ("belkin", "sensor"): ("sensor", "Belkin", "WeMo Motion", 0.8),
    ("belkin", "bridge"): ("hub", "Belkin", "WeMo Link", 0.8),
    ("belkin", "netcamsensor"): ("camera", "Belkin", "NetCam", 0.8),
    ("samsung.com", "remotecontrolreceiver"): ("TV", "Samsung", None, 0.75),
    ("samsung.com", "screensharing"): ("TV", "Samsung", None, 0.6),
    ("axis-com", "basicservice"): ("camera", "Axis", None, 0.7),
    ("lge-com", "webos-tv"): ("TV", "LG", None, 0.75),
    ("sony-com", "irccdevice"): ("TV", "Sony", None, 0.6),
    ("dial-multiscreen-org", "dial"): ("media player", "", None, 0.3),
}
URN = re.compile(r"^urn:([\w.-]+):(device|service):([\w.-]+):\d+$", re.I)
MODEL_LIKE = re.compile(r"^[A-Z]{2,5}-?\d{2,5}[A-Z0-9-]*$")


def _vendor_name(domain: str) -> str:
    return {"belkin": "Belkin", "samsung.com": "Samsung", "axis-com": "Axis"}.get(domain.lower(), "")


def ssdp_type(value: str) -> Claim | None:
    """An SSDP NT or ST (or the type part of a USN)."""
    v = value.strip().split("::")[-1]
    low = v.lower()
    if low == "hnap:networkcamera":
        return Claim(0.75, None, Device("camera", "D-Link"))
    if low.startswith("roku:ecp"):
        return Claim(0.8, OS("Linux", "Roku OS"), Device("media player", "Roku"))
    m = URN.match(v)
    if not m:
        return None
    domain, _, kind = m.group(1).lower(), m.group(2), m.group(3)
    hit = VENDOR_TYPES.get((domain, kind.lower()))
    if hit:
        t, brand, model, weight = hit
        return Claim(weight, None, Device(t, brand or None, model))
    if m.group(2).lower() != "device":
        return None
    if domain == "schemas-upnp-org":
        if MODEL_LIKE.match(kind):  # a vendor that put its model where the type goes
            return Claim(0.6, None, Device(None, None, kind))
        std = UPNP_TYPES.get(kind.lower())
        return Claim(std[1], None, Device(std[0])) if std else None
    vendor = _vendor_name(domain)
    return Claim(0.4, None, Device(None, vendor)) if vendor else None


@cache
def _server_rules() -> list[tuple[re.Pattern[str], Claim | None, str | None]]:
    """(pattern, claim, model group pattern) for SSDP SERVER strings of devices we know."""
    return [
        (re.compile(r"IpBridge/"), Claim(0.8, OS("Linux", "Linux"), Device("hub", "Philips")), None),
        (
            re.compile(r"FRITZ!Box"),
            Claim(0.8, OS("Linux", "FRITZ!OS"), Device("router", "AVM")),
            r"(FRITZ!Box \w+)",
        ),
        (re.compile(r"Synology/DSM"), Claim(0.8, OS("Linux", "DSM"), Device("NAS", "Synology")), None),
        (re.compile(r"WDMyCloud|WD My Cloud"), Claim(0.7, OS("Linux", "Linux"), Device("NAS", "WD")), None),
        (re.compile(r"HomeMatic"), Claim(0.7, None, Device("hub", "eQ-3")), None),
    ]


def ssdp_server(value: str) -> Claim | None:
    for rx, claim, model in _server_rules():
        if claim and rx.search(value):
            found = re.search(model, value) if model else None
            if found:
                assert claim.device is not None
                d = claim.device
                return Claim(claim.weight, claim.os, Device(d.type, d.vendor, found.group(1)))
            return claim
    return None


# DNS-SD service types -> (type, brand, weight)
SERVICES: dict[str, tuple[str | None, str | None, float]] = {
    "_hue._tcp": ("hub", "Philips", 0.75),
    "_nanoleafapi._tcp": ("light", "Nanoleaf", 0.75),
    "_nanoleafms._tcp": ("light", "Nanoleaf", 0.75),
    "_dhnap._tcp": (None, "D-Link", 0.5),
    "_shelly._tcp": (None, "Shelly", 0.6),
    "_sonos._tcp": ("smart speaker", "Sonos", 0.75),
    "_spotify-connect._tcp": ("smart speaker", None, 0.2),
    "_tivo-device._tcp": ("media player", "TiVo", 0.6),
    "_amzn-wplay._tcp": ("media player", "Amazon", 0.5),
    "_miio._udp": (None, "Xiaomi", 0.5),
    "_elg._tcp": ("light", "Elgato", 0.6),
}
INSTANCE_MODELS = [
    (re.compile(r"^AXIS ([A-Z]\d{4}[\w-]*)", re.I), "camera", "Axis"),
    (re.compile(r"^(?:D-Link )?(D[CS][HPS]-[\w-]+)(?: Configuration Utility)?", re.I), None, "D-Link"),
]


def mdns_service(service: str) -> Claim | None:
    hit = SERVICES.get(service.lower())
    if hit is None:
        return None
    kind, brand, weight = hit
    return Claim(weight, None, Device(kind, brand))


def mdns_instance(instance: str) -> Claim | None:
    """A service instance's name ("AXIS M3045-V - ACCC8E123456"), when its maker puts the model there."""
    for rx, kind, brand in INSTANCE_MODELS:
        m = rx.match(instance.strip())
        if m:
            return Claim(0.7, None, Device(kind, brand, m.group(1).upper() if brand == "D-Link" else m.group(1)))
    return None
