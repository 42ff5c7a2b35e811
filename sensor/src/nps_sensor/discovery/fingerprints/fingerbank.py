"""FingerBank's DHCP fingerprints (`dhcp_fingerprints.conf`, PacketFence's INI-like format).

`[class N]` sections name device classes and the OS ids they hold (`members=100-199`);
`[os N]` sections give a description, the option 55 lists (`fingerprints=<<EOT ... EOT`)
and the option 60 vendor ids of that OS or device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nps_sensor.discovery.fingerprints import Corrupt
from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device, device_type, family

SECTION = re.compile(r"^\[(class|os) (\d+)\]\s*$")
VERSION_NOTE = re.compile(r"\s*\((?:Version|version) [^)]*\)")


@dataclass(slots=True)
class Database:
    by_prl: dict[str, list[Claim]] = field(default_factory=dict)
    by_vendor: dict[str, list[Claim]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.by_prl) + len(self.by_vendor)


EMPTY = Database()


def _sections(text: str) -> list[tuple[str, int, dict[str, list[str]]]]:
    out: list[tuple[str, int, dict[str, list[str]]]] = []
    lines = iter(text.splitlines())
    current: dict[str, list[str]] | None = None
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = SECTION.match(line)
        if m:
            current = {}
            out.append((m.group(1), int(m.group(2)), current))
            continue
        if current is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if value.startswith("<<"):
            end = value[2:].strip()
            values = []
            for more in lines:
                if more.strip() == end:
                    break
                if more.strip():
                    values.append(more.strip())
            current[key.strip()] = values
        else:
            current[key.strip()] = [value.strip()]
    return out


def _claim(description: str, cls: str) -> Claim:
    name = VERSION_NOTE.sub("", description).removeprefix("Microsoft ").strip()
    fam = family(cls) or ("macOS" if cls == "Macintosh" else None)
    kind = device_type(cls)
    if fam is None:
        for word, guess in (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("iPod", "iOS")):
            if word in description:
                fam = guess
                break
    if fam is None and "Linux" in description:
        fam = "Linux"
    if kind is None and cls == "Misc" and "Printer" in description:
        kind = "printer"
    os = OS(fam, name if fam in ("Windows", "macOS", "Linux") else fam) if fam else None
    device = Device(kind) if kind else None
    return Claim(1.0, os, device, f"FingerBank {description.strip()}")


def load(path: Path) -> Database:
    sections = _sections(path.read_text(encoding="utf-8"))
    classes: list[tuple[str, list[tuple[int, int]]]] = []
    for kind, _, values in sections:
        if kind != "class":
            continue
        spans = []
        for span in ",".join(values.get("members", [])).split(","):
            low, _, high = span.strip().partition("-")
            if low.isdigit():
                spans.append((int(low), int(high) if high.isdigit() else int(low)))
        classes.append((values.get("description", [""])[0], spans))
    db = Database()
    for kind, number, values in sections:
        if kind != "os":
            continue
        description = values.get("description", [""])[0]
        cls = next((name for name, spans in classes if any(lo <= number <= hi for lo, hi in spans)), "")
        claim = _claim(description, cls)
        if claim.os is None and claim.device is None:
            continue
        for prl in values.get("fingerprints", []):
            db.by_prl.setdefault(prl.replace(" ", ""), []).append(claim)
        for vendor in values.get("vendor_id", []):
            db.by_vendor.setdefault(vendor, []).append(claim)
    if not db.by_prl:
        raise Corrupt("no [os N] section with fingerprints")
    return db
