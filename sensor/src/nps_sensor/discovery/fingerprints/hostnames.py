"""Hostnames that carry a model number or a maker's naming scheme: a curated table, not guesses.

Many devices name themselves on the wire (DHCP option 12, mDNS, NetBIOS) by a rule
of their firmware: D-Link's and TP-Link's smart home devices by their model number
(`DCS-935L`, `DSP-W215`, `HS110(EU)`), Brother printers BRW/BRN and their MAC,
Epson's EPSON and the MAC's last six digits, HP's HP and the MAC, Shelly's
`shellyplug-s-<MAC>`, Yealink's `SIP-T46S`, Windows' DESKTOP-XXXXXXX, Android's
`Galaxy-S21`/`Pixel-7`, Apple's `Name-iPhone`, Espressif's SDK `ESP_XXXXXX`. Each
pattern below is such a documented or widely observed default, anchored so that it
matches the scheme and not a word in a name a person chose ("printer" says nothing).
A hostname a person set (`dev-ubuntu`) matches nothing here, and should not.

Module defaults (`ESP_…`, `HF-LPB100`) name the Wi-Fi module, not the product: they
say "IoT" and nothing about the brand.
"""

from __future__ import annotations

import re
from functools import cache

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device
from nps_sensor.discovery.fingerprints.patterns import Lazy, lazy

# pattern, type, brand, model (a group number, a fixed name, or None), OS family, weight
Entry = tuple[str, str | None, str | None, int | str | None, str | None, float]

ENTRIES: list[Entry] = [
    # D-Link: cameras, mydlink home sensors, sirens, plugs, routers, switches
    (r"^(DCS-\d{3,4}\w*)", "camera", "D-Link", 1, None, 0.75),
    (r"^(DCH-S1[5-9]\d)\b", "sensor", "D-Link", 1, None, 0.75),
    (r"^(DCH-S2[2-3]\d)\b", "siren", "D-Link", 1, None, 0.75),
    (r"^(DCH-[GMZ]\d{3}\w*)\b", "hub", "D-Link", 1, None, 0.7),
    (r"^(DSP-W\d{3}\w*)", "smart plug", "D-Link", 1, None, 0.75),
    (r"^(DIR-\d{3,4}\w*)", "router", "D-Link", 1, None, 0.7),
    # TP-Link Kasa and Tapo: plugs, switches, bulbs, cameras
    (r"^((?:HS|KP|EP)1\d\d|KP[34]\d\d|P1\d\d)(?:\(\w+\))?$", "smart plug", "TP-Link", 1, None, 0.75),
    (r"^(HS2\d\d|KS2\d\d)(?:\(\w+\))?$", "smart plug", "TP-Link", 1, None, 0.7),
    (r"^(KL\d{3}\w*|LB\d{3}|L5\d\d\w*)(?:\(\w+\))?$", "light", "TP-Link", 1, None, 0.75),
    (r"^(?:Tapo_)?(C[1-5]\d{2})(?:_\w+)?$", "camera", "TP-Link", 1, None, 0.6),
    # Shelly (Allterco): shellyplug-s-A1B2C3, shelly1pm-…, shellybulb-…, shellyht-…
    (r"^shelly(plug(?:-s)?|plug-u1|1pm|1|25|1l|em|3em)-[0-9a-f]{6,12}$", "smart plug", "Shelly", "plug", None, 0.8),
    (r"^shelly(bulb\w*|duo\w*|vintage|rgbw2|dimmer\w*)-[0-9a-f]{6,12}$", "light", "Shelly", "light", None, 0.8),
    (r"^shelly(ht|flood|door\w*|motion\w*|smoke\w*|gas)-[0-9a-f]{6,12}$", "sensor", "Shelly", "sensor", None, 0.8),
    # Printers: Brother BRW/BRN + MAC, Epson EPSON + 6 hex digits, HP HP + MAC or NPI…
    (r"^BR[WN][0-9A-F]{12}$", "printer", "Brother", None, None, 0.75),
    (r"^EPSON[0-9A-F]{6}$", "printer", "Epson", None, None, 0.75),
    (r"^(?:HP[0-9A-F]{6,12}|NPI[0-9A-F]{6})$", "printer", "HP", None, None, 0.7),
    (r"^KM[0-9A-F]{6}$", "printer", "Konica Minolta", None, None, 0.6),
    (r"^RNP[0-9A-F]{12}$", "printer", "Ricoh", None, None, 0.65),
    # Phones, tablets and computers by their makers' default names
    (r"(?:^|[-_ ])iPhone(?:[-_ ]\d+)?$", "phone", "Apple", "iPhone", "iOS", 0.7),
    (r"(?:^|[-_ ])iPad(?:[-_ ]\d+)?$", "tablet", "Apple", "iPad", "iPadOS", 0.7),
    (
        r"(?:^|[-_ ])(iMac|MacBook(?:-Pro|-Air)?|Mac-(?:mini|Pro|Studio))(?:[-_ ]\d+)?$",
        "workstation",
        "Apple",
        1,
        None,
        0.55,
    ),
    (r"^Galaxy-([A-Z]\d{1,2}\w*(?:-5G)?)$", "phone", "Samsung", "Galaxy {}", "Android", 0.55),
    (r"^Galaxy-(Tab-\w+)$", "tablet", "Samsung", 1, "Android", 0.65),
    (r"^Pixel-(\d\w*(?:-Pro|-XL|a)?)$", "phone", "Google", "Pixel {}", "Android", 0.65),
    (r"^android-[0-9a-f]{16}$", "phone", None, None, "Android", 0.5),
    (r"^(?:DESKTOP|LAPTOP)-[0-9A-Z]{7}$", "workstation", None, None, "Windows", 0.55),
    (r"^WIN-[0-9A-Z]{11}$", "server", None, None, "Windows", 0.5),
    (r"^pop-os$", "workstation", None, None, "Linux", 0.45),
    # Ubuntu's installer names a machine "<user>-<its DMI product name>"
    (
        r"-(?:QEMU-)?Virtual-Machine$|-VirtualBox$|-VMware-Virtual-Platform$",
        "virtual machine",
        None,
        None,
        "Linux",
        0.5,
    ),
    (r"^raspberrypi$", None, "Raspberry Pi", None, "Linux", 0.5),
    # Hubs, bridges, lights
    (r"^Philips-hue$", "hub", "Philips", None, "Linux", 0.7),
    (r"^homematic-(ccu\d)$", "hub", "eQ-3", 1, "Linux", 0.7),
    (r"^Nanoleaf-", "light", "Nanoleaf", None, None, 0.6),
    (r"^Netatmo-", None, "Netatmo", None, None, 0.5),
    # Network equipment and phones
    (r"^(UAP-[\w-]+|U6-[\w-]+|U7-[\w-]+)$", "access point", "Ubiquiti", 1, None, 0.7),
    (r"^(USW-[\w-]+)$", "switch", "Ubiquiti", 1, None, 0.7),
    (r"^(SIP-T\d{2}\w*|SIP-[VW]\d+\w*)$", "VoIP phone", "Yealink", 1, None, 0.7),
    (r"^SEP[0-9A-F]{12}$", "VoIP phone", "Cisco", None, None, 0.75),
    (r"^(?:DiskStation|RackStation)$", "NAS", "Synology", None, "Linux", 0.6),
    (r"^TS-?(\d{3,4}\w*)$", "NAS", "QNAP", "TS-{}", "Linux", 0.45),
    (r"^axis-[0-9a-f]{12}$", "camera", "Axis", None, "Linux", 0.7),
    (r"^Chromecast", "media player", "Google", None, None, 0.6),
    (r"^SonosZP$", "smart speaker", "Sonos", None, "Linux", 0.6),
    # Wi-Fi modules' defaults: a small device, maker unknown
    (r"^ESP[_-][0-9A-F]{6}$", "IoT", None, None, None, 0.4),
    (r"^(HF-LP[BT]\d{3})$", "IoT", None, None, None, 0.4),
]


@cache
def _compiled() -> list[tuple[Lazy, Entry]]:
    return [(lazy(e[0], re.I), e) for e in ENTRIES]


# An anchored pattern's plain first letter or digit: "^(DCS-" starts with "d".
_LEADING = re.compile(r"\^(?:\((?:\?:)?)*([A-Za-z0-9])(?![?*{])")


def _first(pattern: str) -> str | None:
    """The character (lower case) every match of `pattern` starts with, where the pattern
    says so plainly (anchored, a literal first, no alternatives, no optional group);
    else None: tried on every name."""
    if any(x in pattern for x in ("|", ")?", ")*", "){0")):
        return None
    m = _LEADING.match(pattern)
    return m.group(1).lower() if m else None


@cache
def _rules(head: str) -> list[tuple[Lazy, Entry]]:
    """The rules, in order, that a name starting with `head` can match: a rule is tried,
    and its pattern compiled, only for names that can match it (discovery's cost, issue
    18: compiling the 43 case-blind patterns was most of their cost). A character
    outside ASCII may match a letter case-blindly (the Kelvin sign a "k"): all rules."""
    if not head.isascii():
        return _compiled()
    return [(rx, e) for rx, e in _compiled() if _first(e[0]) in (None, head)]


def hostname(name: str) -> Claim | None:
    """What a hostname's naming scheme says: type, brand, model, OS; None for a name a person chose."""
    name = name.strip().rstrip(".").split(".")[0]
    for rx, (_, kind, brand, model, family, weight) in _rules(name[:1].lower()):
        m = rx.search(name)
        if not m:
            continue
        found: str | None
        if isinstance(model, int):
            found = m.group(model)
        elif model is not None and "{}" in model:
            found = model.format(m.group(1))
        elif brand == "Shelly" and model is not None:
            found = _shelly(m.group(1))
        else:
            found = model
        os = OS(family, family) if family else None
        return Claim(weight, os, Device(kind, brand, found), f"hostname scheme {rx.pattern}")
    return None


SHELLY = {"plug-s": "Shelly Plug S", "plug": "Shelly Plug", "plug-u1": "Shelly Plug US", "1pm": "Shelly 1PM"}


def _shelly(kind: str) -> str:
    return SHELLY.get(kind.lower(), f"Shelly {kind.upper() if len(kind) <= 3 else kind.title()}")
