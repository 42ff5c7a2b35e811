"""Rules written here, not read from a database: what well-known strings say about a device.

User-Agents, SSH banners, SMB and NTLM versions, LLDP/CDP/SNMP descriptions, mDNS
models, DHCP vendor classes, industrial identification and listening ports follow
conventions that change slowly; a short table of regular expressions reads them
better than any of the open databases (which are years behind on Windows builds and
say nothing about LLDP). Each table compiles on first use, so that a run without
such facts never pays for it. Each function returns one `Claim` or None; its weight says
how much the source proves (an NTLM build number is near proof, a listening port a
hint).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Claim | None]]


def _first(rules: list[Rule], text: str) -> Claim | None:
    for pattern, make in rules:
        m = pattern.search(text)
        if m:
            return make(m)
    return None


def _c(weight: float, os: OS | None = None, device: Device | None = None) -> Callable[[re.Match[str]], Claim]:
    return lambda _m: Claim(weight, os, device)


# --- Windows versions ----------------------------------------------------------------

NT_NAMES = {
    "5.0": "Windows 2000",
    "5.1": "Windows XP",
    "5.2": "Windows XP x64 / Server 2003",
    "6.0": "Windows Vista / Server 2008",
    "6.1": "Windows 7 / Server 2008 R2",
    "6.2": "Windows 8 / Server 2012",
    "6.3": "Windows 8.1 / Server 2012 R2",
    "10.0": "Windows 10/11",
}
# Windows 10 and later builds: (first build of the release, name, release). Builds that
# only servers ship are named as servers; those both ship are named both ways.
BUILDS = [
    (10240, "Windows 10", "1507"),
    (10586, "Windows 10", "1511"),
    (14393, "Windows 10 / Server 2016", "1607"),
    (15063, "Windows 10", "1703"),
    (16299, "Windows 10", "1709"),
    (17134, "Windows 10", "1803"),
    (17763, "Windows 10 / Server 2019", "1809"),
    (18362, "Windows 10", "1903"),
    (18363, "Windows 10", "1909"),
    (19041, "Windows 10", "2004"),
    (19042, "Windows 10", "20H2"),
    (19043, "Windows 10", "21H1"),
    (19044, "Windows 10", "21H2"),
    (19045, "Windows 10", "22H2"),
    (20348, "Windows Server 2022", "21H2"),
    (22000, "Windows 11", "21H2"),
    (22621, "Windows 11", "22H2"),
    (22631, "Windows 11", "23H2"),
    (25398, "Windows Server", "23H2"),
    (26100, "Windows 11 / Server 2025", "24H2"),
    (26200, "Windows 11", "25H2"),
]


def windows_build(major: int, minor: int, build: int | None) -> OS:
    """Windows by its NT version and build number."""
    if (major, minor) != (10, 0) or build is None:
        name = NT_NAMES.get(f"{major}.{minor}", f"Windows NT {major}.{minor}")
        version = f"{major}.{minor}" + (f".{build}" if build else "")
        return OS("Windows", name, version)
    name, release = "Windows 10", ""
    for first, n, r in BUILDS:
        if build >= first:
            name, release = n, r
    if build >= 22000 and name.startswith("Windows 10"):
        name = "Windows 11"
    exact = any(first == build for first, _, _ in BUILDS)
    version = f"10.0.{build}" + (f" ({release})" if exact and release else "")
    return OS("Windows", name, version)


NTLM_VERSION = re.compile(r"(\d+)\.(\d+)(?:\D+(\d{1,5}))?")


def ntlm_version(text: str) -> Claim | None:
    """NTLMSSP's version field: "10.0.19045" or "10.0 (build 19045)" or "6.1.7601"."""
    m = NTLM_VERSION.search(text)
    if not m:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if major not in (5, 6, 10):
        return None
    build = int(m.group(3)) if m.group(3) else None
    if build == 0:  # Samba answers "6.1.0": no Windows has build 0
        return Claim(0.4, OS("Unix", "Unix (Samba)"))
    if (major, minor, build) == (6, 1, 7600):  # Windows 7 RTM, and what macOS's SMB client says
        return Claim(0.5, windows_build(major, minor, build))
    os = windows_build(major, minor, build)
    server = "Server" in os.name and "/" not in os.name
    return Claim(0.9, os, Device("server") if server else None)


SMB_WINDOWS = re.compile(r"^(Windows (?:Server )?[\w. ]*?)(?:\s+(\d{3,5}))?(?:\s+Service Pack (\d+))?\s*$", re.I)


def smb_native_os(text: str) -> Claim | None:
    """SMB1 Session Setup's native OS ("Windows 7 Professional 7601 Service Pack 1", "Unix")."""
    t = text.strip()
    m = re.match(r"^Windows (\d+)\.(\d+)$", t)
    if m:
        return Claim(0.85, windows_build(int(m.group(1)), int(m.group(2)), None))
    m = SMB_WINDOWS.match(t)
    if m:
        name = re.sub(
            r"\s+(Professional|Pro|Enterprise|Education|Home|Ultimate|Standard|Datacenter|Business|Starter).*$",
            "",
            m.group(1).strip(),
        )
        version = m.group(2) + (f" SP{m.group(3)}" if m.group(3) else "") if m.group(2) else None
        server = "Server" in name
        return Claim(0.85, OS("Windows", name, version), Device("server") if server else None)
    if re.search(r"\bSamba\b", t):
        m = re.search(r"Samba ([\d.]+)", t)
        return Claim(0.5, OS("Unix", "Unix (Samba)", m.group(1) if m else None))
    if t in ("Unix", "UNIX"):
        return Claim(0.4, OS("Unix", "Unix (Samba)"))
    m = re.match(r"^(?:Mac OS X|macOS) ?([\d.]+)?|^SMBFS", t)
    if m:
        return Claim(0.7, OS("macOS", "macOS", m.group(1)), Device(None, "Apple"))
    if t == "QTS":
        return Claim(0.7, OS("Linux", "QTS"), Device("NAS", "QNAP"))
    return None


def netbios_version(text: str) -> Claim | None:
    """A browser announcement's OS version: Windows NT's major.minor (Samba says 4.9 or 6.1)."""
    nine_x = {"4.0": "Windows 95 / NT 4.0", "4.10": "Windows 98", "4.90": "Windows ME"}  # 4.9 is Samba's
    if text.strip() in nine_x:
        return Claim(0.35, OS("Windows", nine_x[text.strip()]))
    m = re.match(r"^(\d+)\.(\d+)$", text.strip())
    if not m:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if major in (5, 6, 10):
        return Claim(0.35, windows_build(major, minor, None))
    return None


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
            re.compile(r"Windows Phone(?: OS)? ([\d.]+)"),
            lambda m: Claim(0.6, OS("Windows", "Windows Phone", m.group(1)), Device("phone")),
        ),
        (re.compile(r"Xbox"), _c(0.6, OS("Windows", "Xbox OS"), Device("game console", "Microsoft", "Xbox"))),
        (
            re.compile(r"PlayStation (\d+|Vita|Portable)"),
            lambda m: Claim(0.6, None, Device("game console", "Sony", f"PlayStation {m.group(1)}")),
        ),
        (re.compile(r"Nintendo (\w+)"), lambda m: Claim(0.6, None, Device("game console", "Nintendo", m.group(1)))),
        (re.compile(r"\biPhone\b.*?OS (\d+(?:_\d+)*)"), _ios("phone", "iPhone")),
        (re.compile(r"\biPad\b.*?OS (\d+(?:_\d+)*)"), _ios("tablet", "iPad")),
        (re.compile(r"\biPod\b.*?OS (\d+(?:_\d+)*)"), _ios("media player", "iPod")),
        (
            re.compile(r"Apple ?TV|tvOS/?([\d.]+)?"),
            lambda m: Claim(0.6, OS("tvOS", "tvOS", m.group(1)), Device("media player", "Apple", "Apple TV")),
        ),
        (
            re.compile(r"\bCrKey/"),
            _c(0.6, OS("Linux", "Chromecast OS"), Device("media player", "Google", "Chromecast")),
        ),
        (re.compile(r"\bRoku/"), _c(0.6, OS("Linux", "Roku OS"), Device("media player", "Roku"))),
        (
            re.compile(r"Tizen ?([\d.]+)?.*(?:SMART-TV|SmartTV|TV)"),
            lambda m: Claim(0.6, OS("Linux", "Tizen", m.group(1)), Device("TV", "Samsung")),
        ),
        (re.compile(r"Web0S|webOS.*TV|NetCast"), _c(0.6, OS("Linux", "webOS"), Device("TV", "LG"))),
        (re.compile(r"HbbTV|SMART-TV|SmartTV|BRAVIA|Opera TV|AFT[A-Z]"), _c(0.5, None, Device("TV"))),
        (re.compile(r"Android[ /](\d+(?:\.\d+)*)"), _android),
        (
            re.compile(r"\bCrOS \S+ ([\d.]+)"),
            lambda m: Claim(0.6, OS("ChromeOS", "ChromeOS", m.group(1)), Device("workstation")),
        ),
        (re.compile(r"Windows NT (\d+\.\d+)"), _windows_ua),
        (
            re.compile(r"Windows (98|95|ME|XP)\b"),
            lambda m: Claim(0.5, OS("Windows", f"Windows {m.group(1)}"), Device("workstation")),
        ),
        (
            re.compile(
                r"Windows-Update-Agent|Microsoft-CryptoAPI|Microsoft NCSI|Microsoft-Delivery-Optimization|"
                r"Microsoft BITS|WinHttp|MSDW"
            ),
            _c(0.5, OS("Windows", "Windows")),
        ),
        (re.compile(r"Mac OS X (\d+)[_.](\d+)(?:[_.](\d+))?"), _mac),
        (re.compile(r"Macintosh"), _c(0.5, OS("macOS", "macOS"), Device("workstation", "Apple"))),
        (
            re.compile(r"Darwin/(\d+(?:\.\d+)*)"),
            lambda m: Claim(0.45, OS("Darwin", "Darwin", m.group(1)), Device(None, "Apple")),
        ),
        (re.compile(r"Ubuntu"), _c(0.5, OS("Linux", "Ubuntu"))),
        (re.compile(r"Fedora"), _c(0.5, OS("Linux", "Fedora"))),
        (re.compile(r"CentOS|Red Hat|Rocky|AlmaLinux"), _c(0.5, OS("Linux", "Red Hat family"))),
        (re.compile(r"Debian APT-HTTP|\bDebian\b"), _c(0.5, OS("Linux", "Debian family"))),
        (re.compile(r"openSUSE|SUSE"), _c(0.5, OS("Linux", "SUSE"))),
        (re.compile(r"Raspbian"), _c(0.5, OS("Linux", "Raspberry Pi OS"), Device(None, "Raspberry Pi"))),
        (re.compile(r"FreeBSD"), _c(0.5, OS("FreeBSD", "FreeBSD"))),
        (re.compile(r"OpenBSD"), _c(0.5, OS("OpenBSD", "OpenBSD"))),
        (
            re.compile(r"X11; Linux|\bLinux (x86_64|i686|aarch64|armv\w+)"),
            _c(0.45, OS("Linux", "Linux"), Device("workstation")),
        ),
        (re.compile(r"\bLinux\b"), _c(0.35, OS("Linux", "Linux"))),
    ]


def user_agent(ua: str) -> Claim | None:
    """OS and device class from an HTTP User-Agent; None for tools that run anywhere (curl, python, ...)."""
    if NOT_AN_OS.match(ua.strip()):
        return None
    c = _first(_ua_rules(), ua)
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
        (re.compile(r"OpenSSH_([\w.]+) Ubuntu"), _ubuntu),
        (
            re.compile(r"OpenSSH_([\w.]+) Raspbian"),
            _c(0.65, OS("Linux", "Raspberry Pi OS"), Device(None, "Raspberry Pi")),
        ),
        (re.compile(r"OpenSSH_([\w.]+) Debian"), _debian),
        (re.compile(r"OpenSSH_[\w.]+ FreeBSD"), _c(0.65, OS("FreeBSD", "FreeBSD"))),
        (re.compile(r"OpenSSH_[\w.]+ NetBSD|NetBSD_Secure_Shell"), _c(0.65, OS("NetBSD", "NetBSD"))),
        (re.compile(r"OpenSSH_for_Windows_([\w.]+)"), _c(0.6, OS("Windows", "Windows"))),
        (re.compile(r"OpenSSH_[\w.]+-hpn|OpenSSH_[\w.]+ (?:RHEL|Red Hat)"), _c(0.3, OS("Linux", "Linux"))),
        (re.compile(r"-(?:dropbear|Dropbear)"), _c(0.45, OS("Linux", "embedded Linux"))),
        (re.compile(r"-ROSSSH"), _c(0.8, OS("RouterOS", "RouterOS"), Device("router", "MikroTik"))),
        (re.compile(r"-Cisco-|-Cisco_"), _c(0.75, OS("Cisco IOS", "Cisco IOS"), Device("network device", "Cisco"))),
        (re.compile(r"-HUAWEI-"), _c(0.7, OS("Huawei VRP", "Huawei VRP"), Device("network device", "Huawei"))),
        (re.compile(r"-Comware"), _c(0.7, OS("Comware", "Comware"), Device("switch", "HPE"))),
        (re.compile(r"-NetScreen"), _c(0.7, OS("ScreenOS", "ScreenOS"), Device("firewall", "Juniper"))),
        (re.compile(r"-lancom", re.I), _c(0.7, OS("LCOS", "LCOS"), Device("router", "LANCOM"))),
        (re.compile(r"-Sun_SSH"), _c(0.7, OS("Solaris", "Solaris"))),
        (re.compile(r"-RomSShell"), _c(0.4, None, Device("IoT"))),
        (re.compile(r"-mpSSH"), _c(0.5, None, Device("server", "HPE", "iLO"))),
        (re.compile(r"-WeOnlyDo"), _c(0.5, OS("Windows", "Windows"))),
    ]


def ssh_banner(banner: str) -> Claim | None:
    return _first(_ssh_rules(), banner)


# --- Network equipment descriptions (LLDP, CDP, SNMP sysDescr) ----------------------


def _version(pattern: str) -> Callable[[str], str | None]:
    rx = re.compile(pattern)

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


@cache
def _description_rules() -> list[Rule]:
    return [
        (
            re.compile(
                r"Cisco (IOS|NX-OS|Adaptive Security|Internetwork Operating|Nexus)|IOS-XE|AireOS|Cisco Controller", re.I
            ),
            _cisco,
        ),
        (re.compile(r"^cisco\s+(.+)$", re.I), _cisco_platform),
        (re.compile(r"JUNOS|Juniper Networks", re.I), _junos),
        (
            re.compile(r"RouterOS\s*([\d.]+)?|MikroTik", re.I),
            lambda m: Claim(0.9, OS("RouterOS", "RouterOS", m.group(1)), Device("router", "MikroTik")),
        ),
        (
            re.compile(r"ArubaOS|Aruba\b.*\bAP\b|Aruba Instant", re.I),
            _dev(0.85, "access point", "Aruba", OS("ArubaOS", "ArubaOS"), r"MODEL: ([\w-]+)"),
        ),
        (
            re.compile(r"\bAruba\b.*Switch|ArubaOS-(?:CX|Switch)", re.I),
            _dev(0.85, "switch", "Aruba", None, r"Aruba (\w+ [\w+-]+) Switch"),
        ),
        (
            re.compile(r"ProCurve|HP J\w+ .*Switch|HPE? .*Switch|Comware", re.I),
            _dev(0.85, "switch", "HPE", None, r"(J\w{4,5}A?[\w -]*?) Switch"),
        ),
        (
            re.compile(r"FortiGate|FortiOS", re.I),
            _dev(0.85, "firewall", "Fortinet", OS("FortiOS", "FortiOS"), r"(FortiGate-\w+)"),
        ),
        (
            re.compile(r"Palo Alto Networks|PAN-OS", re.I),
            _dev(0.85, "firewall", "Palo Alto Networks", OS("PAN-OS", "PAN-OS"), r"\b(PA-\w+)"),
        ),
        (
            re.compile(r"EdgeOS|EdgeSwitch|UniFi|Ubiquiti|\bUBNT\b", re.I),
            _dev(0.8, "network device", "Ubiquiti", None, r"\b(U\w{1,3}-[\w-]+|ER-\w+|ES-[\w-]+)"),
        ),
        (
            re.compile(r"Huawei Versatile Routing Platform|\bVRP\b.*Huawei", re.I),
            _dev(0.85, "network device", "Huawei", OS("Huawei VRP", "Huawei VRP")),
        ),
        (re.compile(r"ExtremeXOS|Extreme Networks", re.I), _dev(0.85, "switch", "Extreme Networks")),
        (re.compile(r"^Summit\w*-\d+", re.I), _dev(0.8, "switch", "Extreme Networks", None, r"^(Summit[\w-]+)")),
        (
            re.compile(r"Arista Networks EOS", re.I),
            lambda m: Claim(
                0.9,
                OS("EOS", "Arista EOS", _version(r"EOS version ([\w.]+)")(m.string)),
                Device("switch", "Arista", _version(r"running on an Arista Networks ([\w-]+)")(m.string)),
            ),
        ),
        (re.compile(r"^SMC\w+-?\w*", re.I), _dev(0.7, "switch", "SMC", None, r"^(SMC[\w-]+)")),
        (
            re.compile(r"Dell (?:EMC )?Networking|PowerConnect|Force10", re.I),
            _dev(0.8, "switch", "Dell", None, r"\b(N\d{4}\w*|S\d{4}\w*|PowerConnect \d+)"),
        ),
        (re.compile(r"Brocade|Ruckus|ICX\d", re.I), _dev(0.8, "switch", "Ruckus", None, r"\b(ICX\d+[\w-]*)")),
        (
            re.compile(r"NETGEAR|\bGS\d{3}\w*", re.I),
            _dev(0.75, "switch", "Netgear", None, r"\b(GS\d{3}\w*|M\d{4}[\w-]*)"),
        ),
        (re.compile(r"TP-?LINK|\bTL-SG\w+", re.I), _dev(0.75, "switch", "TP-Link", None, r"\b(TL-\w+|T\d{4}\w*)")),
        (re.compile(r"D-Link|\bDGS-\d+", re.I), _dev(0.75, "switch", "D-Link", None, r"\b(DGS-[\w-]+|DES-[\w-]+)")),
        (re.compile(r"Meraki", re.I), _dev(0.8, "network device", "Cisco Meraki", None, r"\b(M[SRX]\d+[\w-]*)")),
        (re.compile(r"Allied ?Telesis|AlliedWare", re.I), _dev(0.8, "switch", "Allied Telesis")),
        (re.compile(r"SCALANCE", re.I), _dev(0.85, "switch", "Siemens", None, r"(SCALANCE [\w-]+)")),
        (re.compile(r"Hirschmann", re.I), _dev(0.85, "switch", "Hirschmann")),
        (re.compile(r"\bMoxa\b|\bEDS-\d+", re.I), _dev(0.8, "switch", "Moxa", None, r"\b(EDS-[\w-]+)")),
        (re.compile(r"Zyxel|ZyXEL", re.I), _dev(0.75, "network device", "Zyxel")),
        (re.compile(r"Avaya (?:IP )?Phone|Avaya \d{4}", re.I), _dev(0.8, "VoIP phone", "Avaya")),
        (
            re.compile(r"Polycom|Poly (?:VVX|CCX)", re.I),
            _dev(0.8, "VoIP phone", "Poly", None, r"\b(VVX ?\d+|CCX ?\d+|SoundPoint[\w ]+)"),
        ),
        (re.compile(r"Yealink", re.I), _dev(0.8, "VoIP phone", "Yealink", None, r"\b(SIP-T\w+|T\d\d\w*)")),
        (
            re.compile(r"Mitel|Snom|Grandstream", re.I),
            lambda m: Claim(0.75, None, Device("VoIP phone", m.group(0).title())),
        ),
        (
            re.compile(
                r"(HP|Hewlett-Packard) (?:Color )?LaserJet|LaserJet|OfficeJet|DesignJet|PageWide|JetDirect", re.I
            ),
            _dev(
                0.85, "printer", "HP", None, r"((?:Color )?(?:LaserJet|OfficeJet|DesignJet|PageWide)[\w -]*?)(?:[,;]|$)"
            ),
        ),
        (
            re.compile(r"Brother (?:NC-|HL-|MFC-|DCP-)|\bBrother\b.*print", re.I),
            _dev(0.85, "printer", "Brother", None, r"\b((?:HL|MFC|DCP)-\w+)"),
        ),
        (
            re.compile(r"Canon iR|imageRUNNER|Canon MF|Canon LBP|Canon .*print", re.I),
            _dev(0.85, "printer", "Canon", None, r"\b(iR[\w-]+|MF\d+\w*|LBP\d+\w*)"),
        ),
        (
            re.compile(
                r"Lexmark|Xerox|Kyocera|RICOH|KONICA MINOLTA|bizhub|EPSON|OKI Data|Sharp MX|TOSHIBA e-STUDIO|Zebra",
                re.I,
            ),
            lambda m: Claim(0.8, None, Device("printer", m.group(0).title())),
        ),
        (re.compile(r"APC Web/SNMP|Network Management Card|Smart-UPS|Eaton.*UPS", re.I), _dev(0.8, "UPS", "APC")),
        (
            re.compile(r"Synology|DiskStation|RackStation", re.I),
            _dev(0.8, "NAS", "Synology", OS("Linux", "DSM"), r"\b(DS\d+\w*|RS\d+\w*)"),
        ),
        (re.compile(r"QNAP|\bQTS\b", re.I), _dev(0.8, "NAS", "QNAP", OS("Linux", "QTS"))),
        (
            re.compile(r"VMware ESXi? ([\d.]+)", re.I),
            lambda m: Claim(0.85, OS("VMware ESXi", "VMware ESXi", m.group(1)), Device("hypervisor", "VMware")),
        ),
        (re.compile(r"Hardware:.*Software: Windows Version (\d+)\.(\d+) \(Build (\d+)"), _windows_sysdescr),
        (re.compile(r"Windows", re.I), _c(0.6, OS("Windows", "Windows"))),
        (
            re.compile(r"Darwin Kernel Version ([\d.]+)|macOS|Mac OS X", re.I),
            lambda m: Claim(0.7, OS("macOS", "macOS"), Device(None, "Apple")),
        ),
        (re.compile(r"FreeBSD ([\w.-]+)?", re.I), lambda m: Claim(0.7, OS("FreeBSD", "FreeBSD", m.group(1)))),
        (re.compile(r"OpenWrt", re.I), _c(0.7, OS("OpenWrt", "OpenWrt"), Device("router"))),
        (re.compile(r"^Linux \S+ (\d+\.\d+[\w.-]*)"), _linux_sysdescr),
        (re.compile(r"\bLinux\b ?([\d.]+)?"), lambda m: Claim(0.5, OS("Linux", "Linux", m.group(1)))),
    ]


def description(text: str) -> Claim | None:
    """A device's self-description: LLDP system description, CDP platform or software version, SNMP sysDescr."""
    return _first(_description_rules(), text)


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
            re.compile(r"Microsoft-Windows(?:-NT)?/(\d+)\.(\d+)"),
            lambda m: Claim(0.55, windows_build(int(m.group(1)), int(m.group(2)), None)),
        ),
        (
            re.compile(r"Darwin/([\d.]+)"),
            lambda m: Claim(0.45, OS("Darwin", "Darwin", m.group(1)), Device(None, "Apple")),
        ),
        (re.compile(r"Tomato|DD-WRT|OpenWrt|AsusWRT|Merlin", re.I), _c(0.6, OS("Linux", "Linux"), Device("router"))),
        (re.compile(r"MiniUPnPd|\bIGD\b|InternetGatewayDevice", re.I), _c(0.5, None, Device("router"))),
        (re.compile(r"Sonos/", re.I), _c(0.7, OS("Linux", "Linux"), Device("smart speaker", "Sonos"))),
        (re.compile(r"Roku/|Roku UPnP", re.I), _c(0.7, OS("Linux", "Roku OS"), Device("media player", "Roku"))),
        (re.compile(r"SHP, UPnP/|Samsung.*TV|Tizen", re.I), _c(0.6, OS("Linux", "Tizen"), Device("TV", "Samsung"))),
        (re.compile(r"DLNADOC|Synology", re.I), _c(0.3, None, Device("media player"))),
    ]


def ssdp_server(text: str) -> Claim | None:
    """SSDP SERVER / USER-AGENT: "OS/version UPnP/1.0 product/version"."""
    c = _first(_ssdp_rules(), text)
    if c is not None:
        return c
    c = description(text)
    return Claim(round(c.weight * 0.6, 2), c.os, c.device, c.match) if c else None


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
        (re.compile(r"^MSFT 5\.0"), _c(0.45, OS("Windows", "Windows"))),
        (re.compile(r"^MSFT 98"), _c(0.45, OS("Windows", "Windows 98"))),
        (re.compile(r"^MSFT"), _c(0.4, OS("Windows", "Windows"))),
        (
            re.compile(r"^android-dhcp-(\d+(?:\.\d+)*)"),
            lambda m: Claim(0.6, OS("Android", "Android", m.group(1)), Device("phone")),
        ),
        (re.compile(r"^dhcpcd[- ]([\d.]+):Linux-([\w.+-]+):"), lambda m: Claim(0.45, OS("Linux", "Linux", m.group(2)))),
        (re.compile(r"^dhcpcd"), _c(0.4, OS("Linux", "Linux"))),
        (re.compile(r"^udhcpc?\b"), _c(0.4, OS("Linux", "embedded Linux"))),
        (
            re.compile(r"^Cisco Systems,? Inc\.? IP Phone ?(\S+)?"),
            lambda m: Claim(0.8, None, Device("VoIP phone", "Cisco", m.group(1))),
        ),
        (
            re.compile(r"^Cisco AP c?(\w+)"),
            lambda m: Claim(0.8, OS("Cisco IOS", "Cisco IOS"), Device("access point", "Cisco", m.group(1))),
        ),
        (re.compile(r"^ciscopnp"), _c(0.6, None, Device("network device", "Cisco"))),
        (re.compile(r"^Arista\b"), _c(0.8, None, Device("switch", "Arista"))),  # zero-touch provisioning
        (re.compile(r"^AAPLBSDPC"), _c(0.6, OS("macOS", "macOS"), Device("workstation", "Apple"))),
        (re.compile(r"^PXEClient"), _c(0.2, None, Device("computer"))),
        (
            re.compile(r"Hewlett-Packard JetDirect|HP LaserJet|^HP ?(?:Color|Office)", re.I),
            _c(0.75, None, Device("printer", "HP")),
        ),
        (
            re.compile(r"Canon|Brother|Xerox|Lexmark|Kyocera|RICOH|EPSON", re.I),
            lambda m: Claim(0.6, None, Device("printer", m.group(0).title())),
        ),
        (re.compile(r"^ubnt", re.I), _c(0.6, None, Device("network device", "Ubiquiti"))),
        (re.compile(r"MikroTik", re.I), _c(0.7, OS("RouterOS", "RouterOS"), Device("router", "MikroTik"))),
        (re.compile(r"ArubaAP|Aruba", re.I), _c(0.6, None, Device("access point", "Aruba"))),
        (re.compile(r"Polycom", re.I), _c(0.7, None, Device("VoIP phone", "Poly"))),
        (re.compile(r"yealink", re.I), _c(0.7, None, Device("VoIP phone", "Yealink"))),
        (re.compile(r"Avaya|ccp\.avaya", re.I), _c(0.7, None, Device("VoIP phone", "Avaya"))),
        (re.compile(r"^(?:SAMSUNG|LG) .*TV|SmartTV", re.I), _c(0.5, None, Device("TV"))),
    ]


def dhcp_vendor_class(text: str) -> Claim | None:
    return _first(_vendor_class_rules(), text)


# --- Web servers -------------------------------------------------------------------


@cache
def _server_rules() -> list[Rule]:
    return [
        (
            re.compile(r"Microsoft-IIS/([\d.]+)"),
            lambda m: Claim(0.5, OS("Windows", "Windows Server"), Device("server")),
        ),
        (re.compile(r"Microsoft-HTTPAPI"), _c(0.4, OS("Windows", "Windows"))),
        (re.compile(r"\((Ubuntu)\)"), _c(0.5, OS("Linux", "Ubuntu"), Device("server"))),
        (re.compile(r"\((Debian)\)"), _c(0.5, OS("Linux", "Debian"), Device("server"))),
        (
            re.compile(r"\((CentOS|Red Hat|Rocky|AlmaLinux|Fedora)\)"),
            _c(0.5, OS("Linux", "Red Hat family"), Device("server")),
        ),
        (re.compile(r"\((FreeBSD)\)"), _c(0.5, OS("FreeBSD", "FreeBSD"), Device("server"))),
        (re.compile(r"\(Win(?:32|64)\)"), _c(0.4, OS("Windows", "Windows"), Device("server"))),
        (re.compile(r"HP HTTP Server|HP-ChaiSOE|Virata-EmWeb", re.I), _c(0.6, None, Device("printer", "HP"))),
        (
            re.compile(r"RomPager|GoAhead|Boa/|mini_httpd|lighttpd/1\.4\.\d+ \(embedded\)|micro_httpd", re.I),
            _c(0.25, None, Device("IoT")),
        ),
        (re.compile(r"MikroTik|RouterOS"), _c(0.7, OS("RouterOS", "RouterOS"), Device("router", "MikroTik"))),
    ]


def http_server(text: str) -> Claim | None:
    return _first(_server_rules(), text)


# --- Industrial identification -----------------------------------------------------

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
