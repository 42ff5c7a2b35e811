"""Satori's XML fingerprints (github.com/xnih/satori, `fingerprints/*.xml`): DHCP, SSH, SMB, web servers.

Each `<fingerprint>` names an OS (`os_name`, `os_class`) and/or a device (`device_type`,
`device_vendor`) and lists tests: an attribute to compare (`dhcpoption55`, `ssh`,
`smbnativename`, ...), `matchtype` exact or partial (a substring), and a weight 1..10.
Only fingerprints that say something about the OS or the device are kept.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nps_sensor.discovery.fingerprints import Corrupt
from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device, device_type, family

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET


@dataclass(slots=True)
class Index:
    """One Satori file's tests: (attribute, value) -> [(claim, weight)] for exact, lists for partial."""

    exact: dict[tuple[str, str], list[tuple[Claim, int]]] = field(default_factory=lambda: defaultdict(list))
    partial: dict[str, list[tuple[str, Claim, int]]] = field(default_factory=lambda: defaultdict(list))

    def __len__(self) -> int:
        return sum(len(v) for v in self.exact.values()) + sum(len(v) for v in self.partial.values())

    def match(self, attribute: str, value: str) -> list[tuple[Claim, int]]:
        hits = list(self.exact.get((attribute, value), ()))
        if not hits:
            hits = [(c, w) for needle, c, w in self.partial.get(attribute, ()) if needle in value]
        return hits


EMPTY = Index()


def entry_claim(fp: ET.Element, os_names: bool = True) -> Claim | None:
    """What a `<fingerprint>` says, weight 1 (the test's weight scales it), or None.

    `os_names` False: `os_name` names a product, not an OS (web.xml's "nginx" on Linux).
    """
    a = fp.attrib
    os_class, os_name = a.get("os_class", "").strip(), a.get("os_name", "").strip()
    os: OS | None = None
    # Only OS families we know: web.xml names servers ("Apache") in os_name.
    if os_class == "IOS" or (os_name == "IOS" and "cisco" in a.get("os_vendor", "").lower()):
        fam: str | None = "Cisco IOS"
    else:
        fam = family(os_class) or family(os_name)
    if fam:
        os = OS(fam, (os_name if os_names else "") or fam)
    kind = device_type(a.get("device_type", ""))
    vendor = a.get("device_vendor", "").strip() or None
    device = Device(kind, vendor) if kind or vendor else None
    if os is None and device is None:
        return None
    return Claim(1.0, os, device, f"Satori {a.get('name', '').strip()}")


def load(path: Path, tests_tag: str, os_names: bool = True) -> Index:
    import xml.etree.ElementTree as ET  # here: a run that reads no Satori file does not import it

    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise Corrupt(f"XML: {e}") from None
    index = Index()
    fingerprints = root.findall("./fingerprints/fingerprint")
    if not fingerprints:
        raise Corrupt("no <fingerprint>")
    for fp in fingerprints:
        claim = entry_claim(fp, os_names)
        if claim is None:
            continue
        for test in fp.iterfind(f"{tests_tag}/test"):
            t = test.attrib
            try:
                weight = int(t.get("weight", "5"))
            except ValueError:
                weight = 5
            partial = t.get("matchtype") == "partial"
            for attribute, value in t.items():
                if attribute in ("weight", "matchtype", "dhcptype", "testtype") or not value.strip():
                    continue
                if partial:
                    index.partial[attribute].append((value.strip(), claim, weight))
                else:
                    index.exact[(attribute, value.strip())].append((claim, weight))
    index.exact = dict(index.exact)
    index.partial = dict(index.partial)
    return index


NOT_CLIENTS = ("malicious", "false positive")  # Satori's malware entries: not an identification


def load_clients(path: Path) -> dict[str, list[str]]:
    """ssl.xml's TLS client stacks: a JA3 or JA4 (`sslsig`) -> the names of the clients
    that send it ("Chrome 118-123", "curl"); malware entries left out."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise Corrupt(f"XML: {e}") from None
    out: dict[str, list[str]] = {}
    for fp in root.findall("./fingerprints/fingerprint"):
        name = fp.attrib.get("name", "").strip()
        if not name or any(w in f"{name} {fp.attrib.get('os_class', '')}".lower() for w in NOT_CLIENTS):
            continue
        for test in fp.iterfind("ssl_tests/test"):
            sig = test.attrib.get("sslsig", "").strip()
            if sig and name not in out.setdefault(sig, []):
                out[sig].append(name)
    if not out:
        raise Corrupt("no <test sslsig=...>")
    return out


def best(hits: list[tuple[Claim, int]], scale: float = 1.0, db: str = "Satori") -> Claim | None:
    """One claim for all the fingerprints a value matched: the one most of them (by weight) agree on.

    A Windows 10 option 55 list matches "Windows 10", "Windows 10 - 1607", ... and
    "Windows 11": the OS named by most wins, and the evidence names the others.
    """
    if not hits:
        return None
    votes: Counter[tuple[OS | None, Device | None]] = Counter()
    names: list[str] = []
    top = 0
    for claim, weight in hits:
        votes[(claim.os, claim.device)] += weight
        top = max(top, weight)
        if claim.match and claim.match not in names:
            names.append(claim.match)
    (os, device), top_votes = votes.most_common(1)[0]
    if os is not None and top_votes * 2 <= sum(votes.values()):
        # No majority: several versions share this value (MSFT 5.0 is every Windows since 2000).
        families = {o.family for o, _ in votes if o is not None}
        os = OS(os.family, os.family) if len(families) == 1 else os
    shown = ", ".join(n.removeprefix(f"{db} ") for n in names[:4]) + (f" (+{len(names) - 4})" if len(names) > 4 else "")
    return Claim(min(1.0, scale * (0.3 + top / 20)), os, device, f"{db}: {shown}")
