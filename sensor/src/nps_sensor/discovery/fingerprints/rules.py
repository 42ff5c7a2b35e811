"""Rules written here, not read from a database: what well-known strings say about a device.

User-Agents, SSH banners, mDNS models, DHCP vendor classes, web servers, industrial
identification, listening ports and MAC vendors follow conventions that change
slowly; a short table of regular expressions reads them better than any of the open
databases (which are years behind on Windows builds and say nothing about LLDP).
Windows versions (`windows`) and network equipment's self-descriptions
(`descriptions`) have tables of their own; this module is the one door to all of
them. Each table compiles on first use, so that a run without such facts never pays
for it. Each function returns one `Claim` or None; its weight says how much the
source proves (an NTLM build number is near proof, a listening port a hint).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device
from nps_sensor.discovery.fingerprints.descriptions import capabilities, description, snmp_enterprise, ssdp_server
from nps_sensor.discovery.fingerprints.industrial import ics_product, ics_vendor, s7_module
from nps_sensor.discovery.fingerprints.patterns import Rule, first, fixed, lazy
from nps_sensor.discovery.fingerprints.windows import (
    netbios_version,
    ntlm_version,
    smb_native_os,
    windows_build,
)

__all__ = [
    "capabilities",
    "description",
    "ics_product",
    "ics_vendor",
    "netbios_version",
    "ntlm_version",
    "s7_module",
    "smb_native_os",
    "snmp_enterprise",
    "ssdp_server",
    "windows_build",
]


# --- User-Agent ----------------------------------------------------------------------

NOT_AN_OS = re.compile(
    r"^(curl|Wget|python-requests|Python-urllib|python-httpx|aiohttp|Go-http-client|Java/|Apache-HttpClient|"
    r"okhttp|libwww-perl|PostmanRuntime|axios|node-fetch|Ruby|HTTPie|Scrapy|Debian APT-CURL)",
    re.I,
)


ANDROID_VENDORS = [
    (r"SM-|GT-|SAMSUNG|Galaxy", "Samsung"),
    (r"Pixel|Nexus", "Google"),
    (r"Redmi|MI |Mi |POCO|M\d{4}[A-Z]", "Xiaomi"),
    (r"moto|Moto|XT\d{4}", "Motorola"),
    (r"ONEPLUS|OnePlus|[A-Z]{2}\d{4}$", "OnePlus"),
    (r"HUAWEI|[A-Z]{3}-L\d\d", "Huawei"),
    (r"LM-|LG-", "LG"),
    (r"CPH\d{4}|OPPO", "OPPO"),
    (r"Nokia", "Nokia"),
    (r"AFT", "Amazon"),
]


def _android(m: re.Match[str]) -> Claim:
    ua = m.string
    model = None
    mm = re.search(r"Android [\d.]+;(?: [a-z]{2}[-_][A-Za-z]{2};)?(?: [UN];)? ([^;)]+?)(?: Build/[^;)]*)?[;)]", ua)
    if mm and mm.group(1).strip() not in ("K", "Mobile", "wv"):
        model = mm.group(1).strip()
    vendor = None
    if model:
        vendor = next((v for rx, v in ANDROID_VENDORS if re.match(rx, model)), None)
    tv = re.search(r"\b(TV|BRAVIA|AFT\w+|SHIELD)\b", ua)
    kind = "TV" if tv else ("phone" if "Mobile" in ua else "tablet")
    return Claim(0.6, OS("Android", "Android", m.group(1)), Device(kind, vendor, model))


def _mac(m: re.Match[str]) -> Claim:
    version = ".".join(x for x in (m.group(1), m.group(2), m.group(3)) if x)
    return Claim(0.55, OS("macOS", "macOS", version), Device("workstation", "Apple"))


def _ios(kind: str, model: str) -> Callable[[re.Match[str]], Claim]:
    def make(m: re.Match[str]) -> Claim:
        version = m.group(1).replace("_", ".") if m.group(1) else None
        name = "iPadOS" if kind == "tablet" and version and int(version.split(".")[0]) >= 13 else "iOS"
        return Claim(0.65, OS(name, name, version), Device(kind, "Apple", model))

    return make


def _windows_ua(m: re.Match[str]) -> Claim:
    major, minor = m.group(1).split(".")
    return Claim(0.55, windows_build(int(major), int(minor), None), Device("workstation"))


@cache
def _ua_rules() -> list[Rule]:
    return [
        (
            lazy(r"Windows Phone(?: OS)? ([\d.]+)"),
            lambda m: Claim(0.6, OS("Windows", "Windows Phone", m.group(1)), Device("phone")),
        ),
        (lazy(r"Xbox"), fixed(0.6, OS("Windows", "Xbox OS"), Device("game console", "Microsoft", "Xbox"))),
        (
            lazy(r"PlayStation (\d+|Vita|Portable)"),
            lambda m: Claim(0.6, None, Device("game console", "Sony", f"PlayStation {m.group(1)}")),
        ),
        (lazy(r"Nintendo (\w+)"), lambda m: Claim(0.6, None, Device("game console", "Nintendo", m.group(1)))),
        (lazy(r"\biPhone\b.*?OS (\d+(?:_\d+)*)"), _ios("phone", "iPhone")),
        (lazy(r"\biPad\b.*?OS (\d+(?:_\d+)*)"), _ios("tablet", "iPad")),
        (lazy(r"\biPod\b.*?OS (\d+(?:_\d+)*)"), _ios("media player", "iPod")),
        (
            lazy(r"Apple ?TV|tvOS/?([\d.]+)?"),
            lambda m: Claim(0.6, OS("tvOS", "tvOS", m.group(1)), Device("media player", "Apple", "Apple TV")),
        ),
        (
            lazy(r"\bCrKey/"),
            fixed(0.6, OS("Linux", "Chromecast OS"), Device("media player", "Google", "Chromecast")),
        ),
        (lazy(r"\bRoku/"), fixed(0.6, OS("Linux", "Roku OS"), Device("media player", "Roku"))),
        (
            lazy(r"Tizen ?([\d.]+)?.*(?:SMART-TV|SmartTV|TV)"),
            lambda m: Claim(0.6, OS("Linux", "Tizen", m.group(1)), Device("TV", "Samsung")),
        ),
        (lazy(r"Web0S|webOS.*TV|NetCast"), fixed(0.6, OS("Linux", "webOS"), Device("TV", "LG"))),
        (lazy(r"HbbTV|SMART-TV|SmartTV|BRAVIA|Opera TV|AFT[A-Z]"), fixed(0.5, None, Device("TV"))),
        (lazy(r"Android[ /](\d+(?:\.\d+)*)"), _android),
        (
            lazy(r"\bCrOS \S+ ([\d.]+)"),
            lambda m: Claim(0.6, OS("ChromeOS", "ChromeOS", m.group(1)), Device("workstation")),
        ),
        (lazy(r"Windows NT (\d+\.\d+)"), _windows_ua),
        (
            lazy(r"Windows (98|95|ME|XP)\b"),
            lambda m: Claim(0.5, OS("Windows", f"Windows {m.group(1)}"), Device("workstation")),
        ),
        (
            lazy(
                r"Windows-Update-Agent|Microsoft-CryptoAPI|Microsoft NCSI|Microsoft-Delivery-Optimization|"
                r"Microsoft BITS|WinHttp|MSDW"
            ),
            fixed(0.5, OS("Windows", "Windows")),
        ),
        (lazy(r"Mac OS X (\d+)[_.](\d+)(?:[_.](\d+))?"), _mac),
        (lazy(r"Macintosh"), fixed(0.5, OS("macOS", "macOS"), Device("workstation", "Apple"))),
        (
            lazy(r"Darwin/(\d+(?:\.\d+)*)"),
            lambda m: Claim(0.45, OS("Darwin", "Darwin", m.group(1)), Device(None, "Apple")),
        ),
        (lazy(r"Ubuntu"), fixed(0.5, OS("Linux", "Ubuntu"))),
        (lazy(r"Fedora"), fixed(0.5, OS("Linux", "Fedora"))),
        (lazy(r"CentOS|Red Hat|Rocky|AlmaLinux"), fixed(0.5, OS("Linux", "Red Hat family"))),
        (lazy(r"Debian APT-HTTP|\bDebian\b"), fixed(0.5, OS("Linux", "Debian family"))),
        (lazy(r"openSUSE|SUSE"), fixed(0.5, OS("Linux", "SUSE"))),
        (lazy(r"Raspbian"), fixed(0.5, OS("Linux", "Raspberry Pi OS"), Device(None, "Raspberry Pi"))),
        (lazy(r"FreeBSD"), fixed(0.5, OS("FreeBSD", "FreeBSD"))),
        (lazy(r"OpenBSD"), fixed(0.5, OS("OpenBSD", "OpenBSD"))),
        (
            lazy(r"X11; Linux|\bLinux (x86_64|i686|aarch64|armv\w+)"),
            fixed(0.45, OS("Linux", "Linux"), Device("workstation")),
        ),
        (lazy(r"\bLinux\b"), fixed(0.35, OS("Linux", "Linux"))),
    ]


def user_agent(ua: str) -> Claim | None:
    """OS and device class from an HTTP User-Agent; None for tools that run anywhere (curl, python, ...)."""
    if NOT_AN_OS.match(ua.strip()):
        return None
    c = first(_ua_rules(), ua)
    if c is not None and c.device is None and "X11;" in ua:  # a desktop's browser
        return Claim(c.weight, c.os, Device("workstation"), c.match)
    return c


# --- SSH banners -------------------------------------------------------------------

UBUNTU_OPENSSH = {
    "5.9p1": "12.04",
    "6.6.1p1": "14.04",
    "7.2p2": "16.04",
    "7.6p1": "18.04",
    "8.2p1": "20.04",
    "8.9p1": "22.04",
    "9.6p1": "24.04",
}
DEBIAN_OPENSSH = {"6.0p1": "7", "6.7p1": "8", "7.4p1": "9", "7.9p1": "10", "8.4p1": "11", "9.2p1": "12", "10.0p1": "13"}


def _ubuntu(m: re.Match[str]) -> Claim:
    return Claim(0.65, OS("Linux", "Ubuntu", UBUNTU_OPENSSH.get(m.group(1))))


def _debian(m: re.Match[str]) -> Claim:
    release = re.search(r"deb(\d+)u", m.string)
    version = release.group(1) if release else DEBIAN_OPENSSH.get(m.group(1))
    return Claim(0.6, OS("Linux", "Debian", version))


@cache
def _ssh_rules() -> list[Rule]:
    return [
        (lazy(r"OpenSSH_([\w.]+) Ubuntu"), _ubuntu),
        (
            lazy(r"OpenSSH_([\w.]+) Raspbian"),
            fixed(0.65, OS("Linux", "Raspberry Pi OS"), Device(None, "Raspberry Pi")),
        ),
        (lazy(r"OpenSSH_([\w.]+) Debian"), _debian),
        (lazy(r"OpenSSH_[\w.]+ FreeBSD"), fixed(0.65, OS("FreeBSD", "FreeBSD"))),
        (lazy(r"OpenSSH_[\w.]+ NetBSD|NetBSD_Secure_Shell"), fixed(0.65, OS("NetBSD", "NetBSD"))),
        (lazy(r"OpenSSH_for_Windows_([\w.]+)"), fixed(0.6, OS("Windows", "Windows"))),
        (lazy(r"OpenSSH_[\w.]+-hpn|OpenSSH_[\w.]+ (?:RHEL|Red Hat)"), fixed(0.3, OS("Linux", "Linux"))),
        (lazy(r"-(?:dropbear|Dropbear)"), fixed(0.45, OS("Linux", "embedded Linux"))),
        (lazy(r"-ROSSSH"), fixed(0.8, OS("RouterOS", "RouterOS"), Device("router", "MikroTik"))),
        (lazy(r"-Cisco-|-Cisco_"), fixed(0.75, OS("Cisco IOS", "Cisco IOS"), Device("network device", "Cisco"))),
        (lazy(r"-HUAWEI-"), fixed(0.7, OS("Huawei VRP", "Huawei VRP"), Device("network device", "Huawei"))),
        (lazy(r"-Comware"), fixed(0.7, OS("Comware", "Comware"), Device("switch", "HPE"))),
        (lazy(r"-NetScreen"), fixed(0.7, OS("ScreenOS", "ScreenOS"), Device("firewall", "Juniper"))),
        (lazy(r"-lancom", re.I), fixed(0.7, OS("LCOS", "LCOS"), Device("router", "LANCOM"))),
        (lazy(r"-Sun_SSH"), fixed(0.7, OS("Solaris", "Solaris"))),
        (lazy(r"-RomSShell"), fixed(0.4, None, Device("IoT"))),
        (lazy(r"-mpSSH"), fixed(0.5, None, Device("server", "HPE", "iLO"))),
        (lazy(r"-WeOnlyDo"), fixed(0.5, OS("Windows", "Windows"))),
    ]


def ssh_banner(banner: str) -> Claim | None:
    return first(_ssh_rules(), banner)


# --- mDNS ------------------------------------------------------------------------


APPLE_MODELS: list[tuple[str, str, str]] = [
    ("MacBook", "workstation", "macOS"),
    ("iMac", "workstation", "macOS"),
    ("Macmini", "workstation", "macOS"),
    ("MacPro", "workstation", "macOS"),
    ("MacStudio", "workstation", "macOS"),
    ("Mac1", "workstation", "macOS"),
    ("iPhone", "phone", "iOS"),
    ("iPad", "tablet", "iPadOS"),
    ("iPod", "media player", "iOS"),
    ("AppleTV", "media player", "tvOS"),
    ("AudioAccessory", "smart speaker", "tvOS"),
    ("Watch", "IoT", "watchOS"),
]


def mdns_model(model: str) -> Claim | None:
    for prefix, kind, os_name in APPLE_MODELS:
        if model.startswith(prefix):
            fam = "Darwin" if os_name == "watchOS" else os_name
            return Claim(0.75, OS(fam, os_name), Device(kind, "Apple", model))
    if re.search(r"Chromecast|Google ?(?:Home|Nest)", model, re.I):
        kind = "media player" if "chromecast" in model.lower() else "smart speaker"
        return Claim(0.7, None, Device(kind, "Google", model))
    if re.search(r"Sonos", model, re.I):
        return Claim(0.7, None, Device("smart speaker", "Sonos", model))
    claim = description(model)
    if claim is not None and claim.device is not None:
        d = claim.device
        return Claim(0.7, claim.os, Device(d.type, d.vendor, d.model or model))
    return None


MDNS_SERVICES = {
    "_ipp._tcp": ("printer", 0.6),
    "_ipps._tcp": ("printer", 0.6),
    "_printer._tcp": ("printer", 0.6),
    "_pdl-datastream._tcp": ("printer", 0.6),
    "_scanner._tcp": ("printer", 0.5),
    "_uscan._tcp": ("printer", 0.5),
    "_googlecast._tcp": ("media player", 0.5),
    "_airplay._tcp": ("media player", 0.3),
    "_raop._tcp": ("smart speaker", 0.2),
    "_hap._tcp": ("IoT", 0.4),
    "_homekit._tcp": ("IoT", 0.4),
    "_axis-video._tcp": ("camera", 0.6),
    "_rtsp._tcp": ("camera", 0.3),
}


def mdns_service(service: str) -> Claim | None:
    hit = MDNS_SERVICES.get(service.lower())
    if hit is None:
        return None
    kind, weight = hit
    return Claim(weight, None, Device(kind))


def mdns_hinfo(cpu: str, os_name: str) -> Claim | None:
    o = os_name.lower()
    if "linux" in o:
        return Claim(0.4, OS("Linux", "Linux"))
    if "windows" in o:
        return Claim(0.4, OS("Windows", "Windows"))
    if "mac" in o or "darwin" in o:
        return Claim(0.4, OS("macOS", "macOS"))
    return None


# --- DHCP vendor class (option 60) -----------------------------------------------


@cache
def _vendor_class_rules() -> list[Rule]:
    return [
        (lazy(r"^MSFT 5\.0"), fixed(0.45, OS("Windows", "Windows"))),
        (lazy(r"^MSFT 98"), fixed(0.45, OS("Windows", "Windows 98"))),
        (lazy(r"^MSFT"), fixed(0.4, OS("Windows", "Windows"))),
        (
            lazy(r"^android-dhcp-(\d+(?:\.\d+)*)"),
            lambda m: Claim(0.6, OS("Android", "Android", m.group(1)), Device("phone")),
        ),
        (lazy(r"^dhcpcd[- ]([\d.]+):Linux-([\w.+-]+):"), lambda m: Claim(0.45, OS("Linux", "Linux", m.group(2)))),
        (lazy(r"^dhcpcd"), fixed(0.4, OS("Linux", "Linux"))),
        (lazy(r"^udhcpc?\b"), fixed(0.4, OS("Linux", "embedded Linux"))),
        (
            lazy(r"^Cisco Systems,? Inc\.? IP Phone ?(\S+)?"),
            lambda m: Claim(0.8, None, Device("VoIP phone", "Cisco", m.group(1))),
        ),
        (
            lazy(r"^Cisco AP c?(\w+)"),
            lambda m: Claim(0.8, OS("Cisco IOS", "Cisco IOS"), Device("access point", "Cisco", m.group(1))),
        ),
        (lazy(r"^ciscopnp"), fixed(0.6, None, Device("network device", "Cisco"))),
        (lazy(r"^Arista\b"), fixed(0.8, None, Device("switch", "Arista"))),  # zero-touch provisioning
        (lazy(r"^AAPLBSDPC"), fixed(0.6, OS("macOS", "macOS"), Device("workstation", "Apple"))),
        (lazy(r"^PXEClient"), fixed(0.2, None, Device("computer"))),
        (
            lazy(r"Hewlett-Packard JetDirect|HP LaserJet|^HP ?(?:Color|Office)", re.I),
            fixed(0.75, None, Device("printer", "HP")),
        ),
        (
            lazy(r"Canon|Brother|Xerox|Lexmark|Kyocera|RICOH|EPSON", re.I),
            lambda m: Claim(0.6, None, Device("printer", m.group(0).title())),
        ),
        (lazy(r"^ubnt", re.I), fixed(0.6, None, Device("network device", "Ubiquiti"))),
        (lazy(r"MikroTik", re.I), fixed(0.7, OS("RouterOS", "RouterOS"), Device("router", "MikroTik"))),
        (lazy(r"ArubaAP|Aruba", re.I), fixed(0.6, None, Device("access point", "Aruba"))),
        (lazy(r"Polycom", re.I), fixed(0.7, None, Device("VoIP phone", "Poly"))),
        (lazy(r"yealink", re.I), fixed(0.7, None, Device("VoIP phone", "Yealink"))),
        (lazy(r"Avaya|ccp\.avaya", re.I), fixed(0.7, None, Device("VoIP phone", "Avaya"))),
        (lazy(r"^(?:SAMSUNG|LG) .*TV|SmartTV", re.I), fixed(0.5, None, Device("TV"))),
    ]


def dhcp_vendor_class(text: str) -> Claim | None:
    return first(_vendor_class_rules(), text)


# --- Web servers -------------------------------------------------------------------


@cache
def _server_rules() -> list[Rule]:
    return [
        (
            lazy(r"Microsoft-IIS/([\d.]+)"),
            lambda m: Claim(0.5, OS("Windows", "Windows Server"), Device("server")),
        ),
        (lazy(r"Microsoft-HTTPAPI"), fixed(0.4, OS("Windows", "Windows"))),
        (lazy(r"\((Ubuntu)\)"), fixed(0.5, OS("Linux", "Ubuntu"), Device("server"))),
        (lazy(r"\((Debian)\)"), fixed(0.5, OS("Linux", "Debian"), Device("server"))),
        (
            lazy(r"\((CentOS|Red Hat|Rocky|AlmaLinux|Fedora)\)"),
            fixed(0.5, OS("Linux", "Red Hat family"), Device("server")),
        ),
        (lazy(r"\((FreeBSD)\)"), fixed(0.5, OS("FreeBSD", "FreeBSD"), Device("server"))),
        (lazy(r"\(Win(?:32|64)\)"), fixed(0.4, OS("Windows", "Windows"), Device("server"))),
        (lazy(r"HP HTTP Server|HP-ChaiSOE|Virata-EmWeb", re.I), fixed(0.6, None, Device("printer", "HP"))),
        (
            lazy(r"RomPager|GoAhead|Boa/|mini_httpd|lighttpd/1\.4\.\d+ \(embedded\)|micro_httpd", re.I),
            fixed(0.25, None, Device("IoT")),
        ),
        (lazy(r"MikroTik|RouterOS"), fixed(0.7, OS("RouterOS", "RouterOS"), Device("router", "MikroTik"))),
    ]


def http_server(text: str) -> Claim | None:
    return first(_server_rules(), text)


# --- Listening ports ---------------------------------------------------------------

PORTS: dict[tuple[str, int], Claim] = {
    ("tcp", 9100): Claim(0.45, None, Device("printer")),
    ("tcp", 515): Claim(0.4, None, Device("printer")),
    ("tcp", 631): Claim(0.2, None, Device("printer")),
    ("tcp", 502): Claim(0.5, None, Device("ICS device")),
    ("tcp", 102): Claim(0.5, None, Device("PLC")),
    ("tcp", 44818): Claim(0.5, None, Device("ICS device")),
    ("udp", 44818): Claim(0.4, None, Device("ICS device")),
    ("tcp", 20000): Claim(0.4, None, Device("RTU")),
    ("udp", 47808): Claim(0.5, None, Device("building controller")),
    ("tcp", 3389): Claim(0.4, OS("Windows", "Windows")),
    ("tcp", 135): Claim(0.35, OS("Windows", "Windows")),
    ("tcp", 88): Claim(0.45, OS("Windows", "Windows Server"), Device("server")),
    ("tcp", 389): Claim(0.3, None, Device("server")),
    ("tcp", 1433): Claim(0.3, OS("Windows", "Windows"), Device("server")),
    ("udp", 53): Claim(0.3, None, Device("server")),
    ("tcp", 53): Claim(0.3, None, Device("server")),
    ("tcp", 25): Claim(0.3, None, Device("server")),
    ("tcp", 554): Claim(0.3, None, Device("camera")),
    ("tcp", 62078): Claim(0.6, OS("iOS", "iOS"), Device("phone", "Apple")),
    ("tcp", 8009): Claim(0.3, None, Device("media player")),
    ("udp", 5060): Claim(0.3, None, Device("VoIP phone")),
    ("tcp", 5060): Claim(0.2, None, Device("VoIP phone")),
    ("tcp", 548): Claim(0.3, OS("macOS", "macOS")),
    ("tcp", 902): Claim(0.6, OS("VMware ESXi", "VMware ESXi"), Device("hypervisor", "VMware")),
}


def port(proto: str, number: int) -> Claim | None:
    return PORTS.get((proto, number))


# --- MAC vendors -----------------------------------------------------------------

OUI_KINDS: list[tuple[re.Pattern[str], str, float]] = [
    (
        re.compile(r"^VMware|^Xensource|^Parallels|^innotek|^Oracle VirtualBox|^PCS Systemtechnik", re.I),
        "virtual machine",
        0.5,
    ),
    (re.compile(r"^Raspberry Pi", re.I), "IoT", 0.25),
    (re.compile(r"^Espressif|^Tuya|^Shenzhen Bilian|^Particle", re.I), "IoT", 0.4),
    (re.compile(r"^Hikvision|^Hangzhou Hikvision|^Zhejiang Dahua|^Axis Communications|^Mobotix", re.I), "camera", 0.4),
    (re.compile(r"^Sonos", re.I), "smart speaker", 0.5),
    (re.compile(r"^Roku", re.I), "media player", 0.5),
    (re.compile(r"^Nintendo|^Sony Interactive", re.I), "game console", 0.5),
    (re.compile(r"^Polycom|^Yealink|^Avaya|^Mitel|^Snom|^Grandstream", re.I), "VoIP phone", 0.35),
    (re.compile(r"^(Brother|Lexmark|Kyocera|Xerox|Seiko Epson|Ricoh|Canon|Zebra)", re.I), "printer", 0.3),
    (
        re.compile(
            r"^(Juniper|Aruba|Ubiquiti|Routerboard|MikroTik|Fortinet|Palo Alto|Arista|Extreme Networks|Ruckus|"
            r"Hirschmann|Moxa)",
            re.I,
        ),
        "network device",
        0.3,
    ),
    (
        re.compile(
            r"^(Rockwell|Schneider Electric|Siemens AG|Phoenix Contact|WAGO|Beckhoff|Omron|Mitsubishi Electric)", re.I
        ),
        "ICS device",
        0.2,
    ),
    (re.compile(r"^American Power Conversion|^Schneider Electric IT", re.I), "UPS", 0.35),
]


def oui_vendor(vendor: str) -> Claim:
    """What the MAC's vendor hints at: a vendor always, a kind of device for single-purpose makers."""
    for rx, kind, weight in OUI_KINDS:
        if rx.search(vendor):
            return Claim(weight, None, Device(kind, vendor))
    return Claim(0.3, None, Device(None, vendor))
