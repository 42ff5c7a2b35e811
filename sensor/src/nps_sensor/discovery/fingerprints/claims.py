"""What a fingerprint says a device is: an OS claim and a device claim, each weighted.

Every matcher turns one fact into at most one `Claim`: the OS it points to, the kind
of device, or both, with a weight in 0..1 for how much that source can be trusted
(an NTLM version string is near proof, a p0f fuzzy match a hint). `predict` votes
with them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Families nest: evidence for Linux also supports Android, evidence for "Unix" supports
# every Unix. Two claims conflict only when neither family is an ancestor of the other.
FAMILY_PARENT = {
    "Linux": "Unix",
    "BSD": "Unix",
    "Darwin": "Unix",
    "Solaris": "Unix",
    "HP-UX": "Unix",
    "AIX": "Unix",
    "Tru64": "Unix",
    "Android": "Linux",
    "ChromeOS": "Linux",
    "RouterOS": "Linux",
    "OpenWrt": "Linux",
    "Cisco IOS XE": "Linux",
    "EOS": "Linux",
    "FreeBSD": "BSD",
    "OpenBSD": "BSD",
    "NetBSD": "BSD",
    "Junos": "FreeBSD",
    "macOS": "Darwin",
    "iOS": "Darwin",
    "iPadOS": "Darwin",
    "tvOS": "Darwin",
}

# The device types the sensor names, the words people use, each under a broader
# one: every rule and database maps onto these (TYPE_ALIASES for the databases'
# words). Types nest like families: a router is a network device, a smart plug IoT.
TYPE_PARENT = {
    "router": "network device",
    "switch": "network device",
    "access point": "network device",
    "firewall": "network device",
    "wireless controller": "network device",
    "load balancer": "network device",
    "PLC": "ICS device",
    "HMI": "ICS device",
    "RTU": "ICS device",
    "building controller": "ICS device",
    "camera": "IoT",
    "smart plug": "IoT",
    "hub": "IoT",
    "light": "IoT",
    "sensor": "IoT",
    "siren": "IoT",
    "scale": "IoT",
    "appliance": "IoT",
    "TV": "IoT",
    "media player": "IoT",
    "smart speaker": "IoT",
    "UPS": "IoT",
    "server": "computer",
    "workstation": "computer",
    "virtual machine": "computer",
    "NAS": "server",
    "hypervisor": "server",
    "time server": "server",
}
# Types of their own, under none: what they do is not another type's.
STANDALONE = ("printer", "phone", "tablet", "VoIP phone", "game console", "projector", "video conferencing")
TYPES = sorted({*TYPE_PARENT, *TYPE_PARENT.values(), *STANDALONE, "point of sale"})


@dataclass(frozen=True, slots=True)
class OS:
    family: str
    name: str
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    type: str | None = None
    vendor: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """What one piece of evidence says, and how strongly (0..1)."""

    weight: float
    os: OS | None = None
    device: Device | None = None
    match: str | None = None  # what it matched in a database, shown beside the evidence


def lineage(name: str, parents: dict[str, str]) -> list[str]:
    """`name` and its ancestors, nearest first."""
    out = [name]
    while out[-1] in parents and len(out) < 8:
        out.append(parents[out[-1]])
    return out


# Device type names used by the databases, mapped onto ours.
TYPE_ALIASES = {
    "wireless access point": "access point",
    "wireless router": "router",
    "router": "router",
    "routers and aps": "router",
    "switch": "switch",
    "switches": "switch",
    "smart switch": "switch",
    "firewall": "firewall",
    "wireless controller": "wireless controller",
    "load balancer": "load balancer",
    "printer": "printer",
    "printers": "printer",
    "scanner": "printer",
    "voip phone": "VoIP phone",
    "voip phones/adapters": "VoIP phone",
    "video phone": "VoIP phone",
    "voip gateway": "VoIP phone",
    "smartphone": "phone",
    "phone": "phone",
    "pda": "phone",
    "smartphones/pdas/tablets": "phone",
    "tablet": "tablet",
    "ebook reader": "tablet",
    "ip network camera": "camera",
    "dvr": "camera",
    "physical security": "camera",
    "game console": "game console",
    "gaming consoles": "game console",
    "smart tv": "TV",
    "smarttv": "TV",
    "iptv": "TV",
    "multimedia device": "media player",
    "digital media player": "media player",
    "home audio/video equipment": "media player",
    "digital signage": "media player",
    "nas": "NAS",
    "file storage": "NAS",
    "storage devices": "NAS",
    "thin client": "workstation",
    "thin clients": "workstation",
    "workstation": "workstation",
    "video conferencing": "video conferencing",
    "ups": "UPS",
    "sensor": "sensor",
    "monitoring devices": "sensor",
    "point of sale devices": "point of sale",
    "projectors": "projector",
}


def device_type(label: str) -> str | None:
    return TYPE_ALIASES.get(label.strip().lower())


# OS class names used by the databases (p0f's names, Satori's os_class, FingerBank's
# classes), mapped onto our families.
FAMILY_ALIASES = {
    "windows": "Windows",
    "linux": "Linux",
    "android": "Android",
    "mac os": "macOS",
    "mac os x": "macOS",
    "macos x": "macOS",
    "macos": "macOS",
    "macintosh": "macOS",
    "ios": "iOS",
    "freebsd": "FreeBSD",
    "openbsd": "OpenBSD",
    "netbsd": "NetBSD",
    "bsd": "BSD",
    "solaris": "Solaris",
    "hp-ux": "HP-UX",
    "tru64": "Tru64",
    "unix": "Unix",
    "chromeos": "ChromeOS",
    "openwrt": "OpenWrt",
    "routeros": "RouterOS",
    "vxworks": "VxWorks",
    "eos": "EOS",
    "arista eos": "EOS",
    "vmware": "VMware ESXi",
    "openvms": "OpenVMS",
    "blackberry": "BlackBerry",
    "nintendo": "Nintendo",
    "haiku": "Haiku",
    "beos": "BeOS",
    "netware": "NetWare",
    "os/2 warp": "OS/2",
    "xtos": "XTOS",
}


def family(label: str) -> str | None:
    return FAMILY_ALIASES.get(label.strip().lower())
