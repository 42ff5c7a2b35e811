"""Windows by its versions: NT version and build numbers (NTLMSSP, SMB native OS, browser
announcements, SNMP, User-Agents) to the release they name."""

from __future__ import annotations

import re

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device

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
