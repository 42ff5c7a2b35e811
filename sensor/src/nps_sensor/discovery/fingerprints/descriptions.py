"""Network equipment and hosts by their own descriptions: LLDP system descriptions, CDP
platforms and software versions, SNMP sysDescr, sysObjectID and engine enterprises,
SSDP SERVER strings. Vendors word these by fixed conventions ("Cisco IOS Software,
C3560 Software ... Version 12.2(25)SEB4"), which a table of patterns reads."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device
from nps_sensor.discovery.fingerprints.patterns import Rule, first, fixed, lazy
from nps_sensor.discovery.fingerprints.windows import windows_build


def _version(pattern: str) -> Callable[[str], str | None]:
    rx = lazy(pattern)

    def find(text: str) -> str | None:
        m = rx.search(text)
        return m.group(1).rstrip(",") if m else None

    return find


_ios_version = _version(r"Version ([\w.()]+)")


def _cisco_kind(model: str) -> str | None:
    m = model.upper().removeprefix("CISCO").strip(" -")
    if re.match(r"(WS-C|C9[23]\d{2}|C[23]9\d\d|C3[5-8]\d\d|N\dK|N\d{4}|IE-\d|CBS|SG\d|SF\d|CATALYST)", m):
        return "switch"
    if re.match(r"(AIR-|C91\d\d|AP\d|CW9)", m):
        return "access point"
    if re.match(r"(ASA|FPR|FIREPOWER)", m):
        return "firewall"
    if re.match(r"(ISR|ASR|C8\d\d|C1[19]\d\d|\d{4}|CSR|ISR4|C8[0-5]\d{2}|IR\d)", m):
        return "router"
    if re.match(r"(IP PHONE|CP-|SEP)", m):
        return "VoIP phone"
    return None


def _cisco(m: re.Match[str]) -> Claim:
    text = m.string
    if "NX-OS" in text or "Nexus" in text:
        os = OS("Cisco NX-OS", "Cisco NX-OS", _ios_version(text))
        kind: str | None = "switch"
    elif "IOS XR" in text or "IOS-XR" in text:
        os, kind = OS("Cisco IOS XR", "Cisco IOS XR", _ios_version(text)), "router"
    elif "IOS-XE" in text or "IOS XE" in text:
        os, kind = OS("Cisco IOS XE", "Cisco IOS XE", _ios_version(text)), None
    elif "Adaptive Security Appliance" in text:
        os, kind = OS("Cisco ASA", "Cisco ASA", _ios_version(text)), "firewall"
    elif "AireOS" in text or "Wireless LAN Controller" in text:
        os, kind = OS("Cisco AireOS", "Cisco AireOS"), "wireless controller"
    else:
        os, kind = OS("Cisco IOS", "Cisco IOS", _ios_version(text)), None
    # The image name ("C2950 Software") says the kind of box; the model comes from the platform.
    image = re.search(r"\b(C\d{3,4}\w*|WS-C[\w-]+|ISR\w*|N\dK-[\w-]+|CAT\w+)\b", text)
    if kind is None and image:
        kind = _cisco_kind(image.group(1))
    return Claim(0.9, os, Device(kind or "network device", "Cisco"))


def _cisco_platform(m: re.Match[str]) -> Claim:
    model = m.group(1).strip()
    return Claim(0.85, None, Device(_cisco_kind(model) or "network device", "Cisco", model))


def _junos(m: re.Match[str]) -> Claim:
    model = re.search(r"\b((?:ex|qfx|srx|mx|acx|ptx|ssg|j)\d[\w-]*)", m.string, re.I)
    kinds = {
        "ex": "switch",
        "qf": "switch",
        "sr": "firewall",
        "ss": "firewall",
        "mx": "router",
        "ac": "router",
        "pt": "router",
    }
    kind = kinds.get(model.group(1)[:2].lower(), "network device") if model else "network device"
    version = _version(r"JUNOS ([\w.-]+)")(m.string)
    return Claim(0.9, OS("Junos", "Junos", version), Device(kind, "Juniper", model.group(1) if model else None))


def _model_after(pattern: str) -> Callable[[str], str | None]:
    return _version(pattern)


def _dev(
    weight: float, kind: str, vendor: str, os: OS | None = None, model: str | None = None
) -> Callable[[re.Match[str]], Claim]:
    find = _model_after(model) if model else None
    return lambda m: Claim(weight, os, Device(kind, vendor, find(m.string) if find else None))


def _windows_sysdescr(m: re.Match[str]) -> Claim:
    build = int(m.group(3)) if m.group(3) else None
    return Claim(0.85, windows_build(int(m.group(1)), int(m.group(2)), build))


def _linux_sysdescr(m: re.Match[str]) -> Claim:
    return Claim(0.6, OS("Linux", "Linux", m.group(1)))


def _network_rules() -> list[Rule]:
    """Network equipment by its makers' own descriptions: routers, switches, firewalls, access points."""
    return [
        (
            lazy(
                r"Cisco (IOS|NX-OS|Adaptive Security|Internetwork Operating|Nexus)|IOS-XE|AireOS|Cisco Controller", re.I
            ),
            _cisco,
        ),
        (lazy(r"^cisco\s+(.+)$", re.I), _cisco_platform),
        (lazy(r"JUNOS|Juniper Networks", re.I), _junos),
        (
            lazy(r"RouterOS\s*([\d.]+)?|MikroTik", re.I),
            lambda m: Claim(0.9, OS("RouterOS", "RouterOS", m.group(1)), Device("router", "MikroTik")),
        ),
        (
            lazy(r"ArubaOS|Aruba\b.*\bAP\b|Aruba Instant", re.I),
            _dev(0.85, "access point", "Aruba", OS("ArubaOS", "ArubaOS"), r"MODEL: ([\w-]+)"),
        ),
        (
            lazy(r"\bAruba\b.*Switch|ArubaOS-(?:CX|Switch)", re.I),
            _dev(0.85, "switch", "Aruba", None, r"Aruba (\w+ [\w+-]+) Switch"),
        ),
        (
            lazy(r"ProCurve|HP J\w+ .*Switch|HPE? .*Switch|Comware", re.I),
            _dev(0.85, "switch", "HPE", None, r"(J\w{4,5}A?[\w -]*?) Switch"),
        ),
        (
            lazy(r"FortiGate|FortiOS", re.I),
            _dev(0.85, "firewall", "Fortinet", OS("FortiOS", "FortiOS"), r"(FortiGate-\w+)"),
        ),
        (
            lazy(r"Palo Alto Networks|PAN-OS", re.I),
            _dev(0.85, "firewall", "Palo Alto Networks", OS("PAN-OS", "PAN-OS"), r"\b(PA-\w+)"),
        ),
        (
            lazy(r"EdgeOS|EdgeSwitch|UniFi|Ubiquiti|\bUBNT\b", re.I),
            _dev(0.8, "network device", "Ubiquiti", None, r"\b(U\w{1,3}-[\w-]+|ER-\w+|ES-[\w-]+)"),
        ),
        (
            lazy(r"Huawei Versatile Routing Platform|\bVRP\b.*Huawei", re.I),
            _dev(0.85, "network device", "Huawei", OS("Huawei VRP", "Huawei VRP")),
        ),
        (lazy(r"ExtremeXOS|Extreme Networks", re.I), _dev(0.85, "switch", "Extreme Networks")),
        (lazy(r"^Summit\w*-\d+", re.I), _dev(0.8, "switch", "Extreme Networks", None, r"^(Summit[\w-]+)")),
        (
            lazy(r"Arista Networks EOS", re.I),
            lambda m: Claim(
                0.9,
                OS("EOS", "Arista EOS", _version(r"EOS version ([\w.]+)")(m.string)),
                Device("switch", "Arista", _version(r"running on an Arista Networks ([\w-]+)")(m.string)),
            ),
        ),
        (lazy(r"^SMC\w+-?\w*", re.I), _dev(0.7, "switch", "SMC", None, r"^(SMC[\w-]+)")),
        (
            lazy(r"Dell (?:EMC )?Networking|PowerConnect|Force10", re.I),
            _dev(0.8, "switch", "Dell", None, r"\b(N\d{4}\w*|S\d{4}\w*|PowerConnect \d+)"),
        ),
        (lazy(r"Brocade|Ruckus|ICX\d", re.I), _dev(0.8, "switch", "Ruckus", None, r"\b(ICX\d+[\w-]*)")),
        (
            lazy(r"NETGEAR|\bGS\d{3}\w*", re.I),
            _dev(0.75, "switch", "Netgear", None, r"\b(GS\d{3}\w*|M\d{4}[\w-]*)"),
        ),
        (lazy(r"TP-?LINK|\bTL-SG\w+", re.I), _dev(0.75, "switch", "TP-Link", None, r"\b(TL-\w+|T\d{4}\w*)")),
        (lazy(r"D-Link|\bDGS-\d+", re.I), _dev(0.75, "switch", "D-Link", None, r"\b(DGS-[\w-]+|DES-[\w-]+)")),
        (lazy(r"Meraki", re.I), _dev(0.8, "network device", "Cisco Meraki", None, r"\b(M[SRX]\d+[\w-]*)")),
        (lazy(r"Allied ?Telesis|AlliedWare", re.I), _dev(0.8, "switch", "Allied Telesis")),
        (lazy(r"SCALANCE", re.I), _dev(0.85, "switch", "Siemens", None, r"(SCALANCE [\w-]+)")),
        (lazy(r"Hirschmann", re.I), _dev(0.85, "switch", "Hirschmann")),
        (lazy(r"\bMoxa\b|\bEDS-\d+", re.I), _dev(0.8, "switch", "Moxa", None, r"\b(EDS-[\w-]+)")),
        (lazy(r"Zyxel|ZyXEL", re.I), _dev(0.75, "network device", "Zyxel")),
    ]


def _endpoint_rules() -> list[Rule]:
    """Phones, printers, UPSs and NAS by their makers' descriptions."""
    return [
        (lazy(r"Avaya (?:IP )?Phone|Avaya \d{4}", re.I), _dev(0.8, "VoIP phone", "Avaya")),
        (
            lazy(r"Polycom|Poly (?:VVX|CCX)", re.I),
            _dev(0.8, "VoIP phone", "Poly", None, r"\b(VVX ?\d+|CCX ?\d+|SoundPoint[\w ]+)"),
        ),
        (lazy(r"Yealink", re.I), _dev(0.8, "VoIP phone", "Yealink", None, r"\b(SIP-T\w+|T\d\d\w*)")),
        (
            lazy(r"Mitel|Snom|Grandstream", re.I),
            lambda m: Claim(0.75, None, Device("VoIP phone", m.group(0).title())),
        ),
        (
            lazy(r"(HP|Hewlett-Packard) (?:Color )?LaserJet|LaserJet|OfficeJet|DesignJet|PageWide|JetDirect", re.I),
            _dev(
                0.85, "printer", "HP", None, r"((?:Color )?(?:LaserJet|OfficeJet|DesignJet|PageWide)[\w -]*?)(?:[,;]|$)"
            ),
        ),
        (
            lazy(r"Brother (?:NC-|HL-|MFC-|DCP-)|\bBrother\b.*print", re.I),
            _dev(0.85, "printer", "Brother", None, r"\b((?:HL|MFC|DCP)-\w+)"),
        ),
        (
            lazy(r"Canon iR|imageRUNNER|Canon MF|Canon LBP|Canon .*print", re.I),
            _dev(0.85, "printer", "Canon", None, r"\b(iR[\w-]+|MF\d+\w*|LBP\d+\w*)"),
        ),
        (
            lazy(
                r"Lexmark|Xerox|Kyocera|RICOH|KONICA MINOLTA|bizhub|EPSON|OKI Data|Sharp MX|TOSHIBA e-STUDIO|Zebra",
                re.I,
            ),
            lambda m: Claim(0.8, None, Device("printer", m.group(0).title())),
        ),
        (lazy(r"APC Web/SNMP|Network Management Card|Smart-UPS|Eaton.*UPS", re.I), _dev(0.8, "UPS", "APC")),
        (
            lazy(r"Synology|DiskStation|RackStation", re.I),
            _dev(0.8, "NAS", "Synology", OS("Linux", "DSM"), r"\b(DS\d+\w*|RS\d+\w*)"),
        ),
        (lazy(r"QNAP|\bQTS\b", re.I), _dev(0.8, "NAS", "QNAP", OS("Linux", "QTS"))),
    ]


def _system_rules() -> list[Rule]:
    """Operating systems alone, the last resort: hypervisors, Windows, macOS, BSD, Linux."""
    return [
        (
            lazy(r"VMware ESXi? ([\d.]+)", re.I),
            lambda m: Claim(0.85, OS("VMware ESXi", "VMware ESXi", m.group(1)), Device("hypervisor", "VMware")),
        ),
        (lazy(r"Hardware:.*Software: Windows Version (\d+)\.(\d+) \(Build (\d+)"), _windows_sysdescr),
        (lazy(r"Windows", re.I), fixed(0.6, OS("Windows", "Windows"))),
        (
            lazy(r"Darwin Kernel Version ([\d.]+)|macOS|Mac OS X", re.I),
            lambda m: Claim(0.7, OS("macOS", "macOS"), Device(None, "Apple")),
        ),
        (lazy(r"FreeBSD ([\w.-]+)?", re.I), lambda m: Claim(0.7, OS("FreeBSD", "FreeBSD", m.group(1)))),
        (lazy(r"OpenWrt", re.I), fixed(0.7, OS("OpenWrt", "OpenWrt"), Device("router"))),
        (lazy(r"^Linux \S+ (\d+\.\d+[\w.-]*)"), _linux_sysdescr),
        (lazy(r"\bLinux\b ?([\d.]+)?"), lambda m: Claim(0.5, OS("Linux", "Linux", m.group(1)))),
    ]


@cache
def _description_rules() -> list[Rule]:
    """Every rule, in the order they are tried: a maker's own words before an OS name."""
    return _network_rules() + _endpoint_rules() + _system_rules()


def description(text: str) -> Claim | None:
    """A device's self-description: LLDP system description, CDP platform or software version, SNMP sysDescr."""
    return first(_description_rules(), text)


def capabilities(text: str, enabled: bool = True) -> Claim | None:
    """LLDP ("bridge,router", IEEE names) or CDP ("router,switch,igmp") capabilities.

    A switch that also routes is a (layer 3) switch; routing alone is a router. What a
    device merely supports (LLDP's other list) is weaker than what it has enabled.
    """
    caps = {c.strip().lower() for c in text.split(",")}
    weight = 0.5 if enabled else 0.3
    if "router" in caps and caps & {"bridge", "switch"}:
        # A layer 3 switch, or a router with a switch module: CDP says the same of both.
        return Claim(weight - 0.2, None, Device("network device"))
    if caps & {"telephone", "phone"}:
        return Claim(weight + 0.1, None, Device("VoIP phone"))
    if "wlan-ap" in caps:
        return Claim(weight, None, Device("access point"))
    if caps & {"bridge", "switch"}:
        return Claim(weight, None, Device("switch"))
    if caps & {"router", "docsis"}:
        return Claim(weight, None, Device("router"))
    if caps & {"station", "host"}:
        return Claim(weight - 0.2, None, Device("workstation"))
    return None


# SNMP private enterprise numbers (sysObjectID 1.3.6.1.4.1.N..., SNMPv3 engine IDs).
ENTERPRISES: dict[int, tuple[str, str | None, OS | None]] = {
    9: ("Cisco", "network device", None),
    11: ("HPE", None, None),
    311: ("Microsoft", None, OS("Windows", "Windows")),
    318: ("APC", "UPS", None),
    641: ("Lexmark", "printer", None),
    674: ("Dell", None, None),
    1347: ("Kyocera", "printer", None),
    1602: ("Canon", "printer", None),
    1916: ("Extreme Networks", "switch", None),
    2001: ("Oki", "printer", None),
    2011: ("Huawei", "network device", None),
    2435: ("Brother", "printer", None),
    2636: ("Juniper", "network device", OS("Junos", "Junos")),
    253: ("Xerox", "printer", None),
    367: ("Ricoh", "printer", None),
    3375: ("F5", "load balancer", None),
    4329: ("Siemens", None, None),
    4526: ("Netgear", "network device", None),
    6574: ("Synology", "NAS", OS("Linux", "DSM")),
    6876: ("VMware", "hypervisor", OS("VMware ESXi", "VMware ESXi")),
    8072: ("net-snmp", None, OS("Unix", "Unix (net-snmp)")),
    8691: ("Moxa", "network device", None),
    12356: ("Fortinet", "firewall", OS("FortiOS", "FortiOS")),
    14823: ("Aruba", "network device", None),
    14988: ("MikroTik", "router", OS("RouterOS", "RouterOS")),
    24681: ("QNAP", "NAS", OS("Linux", "QTS")),
    25461: ("Palo Alto Networks", "firewall", OS("PAN-OS", "PAN-OS")),
    30065: ("Arista", "switch", None),
    41112: ("Ubiquiti", "network device", None),
}


def snmp_enterprise(text: str) -> Claim | None:
    """sysObjectID ("1.3.6.1.4.1.9.1.1") or an engine's enterprise number ("9")."""
    m = re.match(r"^(?:\.?1\.3\.6\.1\.4\.1\.)?(\d+)", text.strip())
    hit = ENTERPRISES.get(int(m.group(1))) if m else None
    if hit is None:
        return None
    vendor, kind, os = hit
    device = Device(kind, None if vendor == "net-snmp" else vendor)
    return Claim(0.6, os, device if device.type or device.vendor else None)


@cache
def _ssdp_rules() -> list[Rule]:
    return [
        (
            lazy(r"Microsoft-Windows(?:-NT)?/(\d+)\.(\d+)"),
            lambda m: Claim(0.55, windows_build(int(m.group(1)), int(m.group(2)), None)),
        ),
        (
            lazy(r"Darwin/([\d.]+)"),
            lambda m: Claim(0.45, OS("Darwin", "Darwin", m.group(1)), Device(None, "Apple")),
        ),
        (lazy(r"Tomato|DD-WRT|OpenWrt|AsusWRT|Merlin", re.I), fixed(0.6, OS("Linux", "Linux"), Device("router"))),
        (lazy(r"MiniUPnPd|\bIGD\b|InternetGatewayDevice", re.I), fixed(0.5, None, Device("router"))),
        (lazy(r"Sonos/", re.I), fixed(0.7, OS("Linux", "Linux"), Device("smart speaker", "Sonos"))),
        (lazy(r"Roku/|Roku UPnP", re.I), fixed(0.7, OS("Linux", "Roku OS"), Device("media player", "Roku"))),
        (lazy(r"SHP, UPnP/|Samsung.*TV|Tizen", re.I), fixed(0.6, OS("Linux", "Tizen"), Device("TV", "Samsung"))),
        (lazy(r"DLNADOC|Synology", re.I), fixed(0.3, None, Device("media player"))),
    ]


def ssdp_server(text: str) -> Claim | None:
    """SSDP SERVER / USER-AGENT: "OS/version UPnP/1.0 product/version"."""
    c = first(_ssdp_rules(), text)
    if c is not None:
        return c
    c = description(text)
    return Claim(round(c.weight * 0.6, 2), c.os, c.device, c.match) if c else None
