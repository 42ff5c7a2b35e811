"""MAC vendors: the IEEE registries (MA-L 24-bit, MA-M 28-bit, MA-S and IAB 36-bit) and Wireshark's manuf.

Each table maps a prefix length to {prefix: organization}; a lookup tries 36, 28 then
24 bits, the IEEE lists first (the authority), then manuf (which also knows a few
blocks the IEEE snapshot lacks). A locally administered address (bit 0x02 of the
first octet: randomized by phones and laptops for privacy, or made up by a
hypervisor or a container) has no vendor; `lookup` says so rather than guess.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from nps_sensor.discovery.fingerprints import Corrupt

LOCAL_BIT = 0x02 << 40
GROUP_BIT = 0x01 << 40
BITS = (36, 28, 24)


@dataclass(slots=True)
class Table:
    by_bits: dict[int, dict[int, str]] = field(default_factory=lambda: {b: {} for b in BITS})

    def __len__(self) -> int:
        return sum(len(t) for t in self.by_bits.values())

    def find(self, mac: int) -> str | None:
        for bits in BITS:
            name = self.by_bits[bits].get(mac >> (48 - bits))
            if name is not None:
                return name
        return None


EMPTY = Table()


def load_ieee(path: Path) -> Table:
    """One IEEE registry CSV: Registry,Assignment,Organization Name,Organization Address."""
    table = Table()
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if not header or len(header) < 3 or header[1].strip().lower() != "assignment":
            raise Corrupt("no 'Registry,Assignment,Organization Name' header")
        for row in rows:
            if len(row) < 3:
                continue
            assignment = row[1].strip()
            bits = len(assignment) * 4
            if bits not in table.by_bits:
                continue
            try:
                prefix = int(assignment, 16)
            except ValueError:
                continue
            name = row[2].strip().rstrip(",;").strip()
            if name and name.lower() != "private":
                table.by_bits[bits][prefix] = name
    if not len(table):
        raise Corrupt("no assignment")
    return table


def load_manuf(path: Path) -> Table:
    """Wireshark's manuf: `PREFIX[/bits]<TAB>short<TAB>full`; group addresses are skipped."""
    table = Table()
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line or line[0] in "#\n":
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            prefix, _, mask = parts[0].strip().partition("/")
            digits = prefix.replace(":", "").replace("-", "").replace(".", "")
            try:
                value = int(digits, 16)
                bits = int(mask) if mask else len(digits) * 4
            except ValueError:
                continue
            if bits not in table.by_bits or len(digits) * 4 < bits:
                continue
            value >>= len(digits) * 4 - bits
            name = (parts[2] if len(parts) > 2 else parts[1]).strip()
            if name:
                table.by_bits[bits][value] = name
    if not len(table):
        raise Corrupt("no vendor prefix")
    return table


def is_local(mac: int) -> bool:
    return bool(mac & LOCAL_BIT)


def lookup(tables: list[Table], mac: int) -> str | None:
    """The vendor of a universally administered unicast MAC, else None."""
    if mac & (LOCAL_BIT | GROUP_BIT):
        return None
    for bits in BITS:
        key = mac >> (48 - bits)
        for t in tables:
            name = t.by_bits[bits].get(key)
            if name:
                return name
    return None


def mac_int(text: str) -> int:
    return int(text.replace(":", "").replace("-", "").replace(".", ""), 16)
