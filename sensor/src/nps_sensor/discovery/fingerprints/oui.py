"""MAC vendors: the IEEE registries (MA-L 24-bit, MA-M 28-bit, MA-S and IAB 36-bit) and Wireshark's manuf.

Each table maps a prefix length to {prefix: organization}; a lookup tries 36, 28 then
24 bits, the IEEE lists first (the authority), then manuf (which also knows a few
blocks the IEEE snapshot lacks). A locally administered address (bit 0x02 of the
first octet: randomized by phones and laptops for privacy, or made up by a
hypervisor or a container) has no vendor; `lookup` says so rather than guess.

manuf has some 50,000 lines and a sensor looks up a few hundred blocks, so it is
indexed rather than parsed (`Manuf`): its lines are sorted by their first three
octets, each of which begins every prefix that the line can give, so the lines of
one 24-bit block are found by bisection and parsed on its first look-up. A file not
in that form (another line form, unsorted) is parsed whole, with the same result.
"""

from __future__ import annotations

import csv
import operator
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate, compress, islice, repeat
from pathlib import Path
from typing import Protocol

from nps_sensor.discovery.fingerprints import Corrupt, cache

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

    def name(self, bits: int, prefix: int) -> str | None:
        return self.by_bits[bits].get(prefix)


class Vendors(Protocol):
    """A vendor list: the organization a prefix of `bits` bits is assigned to."""

    def name(self, bits: int, prefix: int) -> str | None: ...


EMPTY: Vendors = Table()


# One prefix length of a packed table: the prefixes sorted (unsigned 64-bit, native
# order), the names end to end, and where each name ends (unsigned 32-bit).
Columns = tuple[bytes, str, bytes]


class Packed:
    """An IEEE table as three flat columns per prefix length, looked up by bisection.

    A run looks up a few hundred blocks among some 46,000: reading the table as dicts
    of ints and strings builds every one of those objects (49 M instructions for the
    four lists, issue 18), reading it as a few byte strings and one text builds three
    objects per length, and a look-up makes the one name it finds.
    """

    __slots__ = ("_cols", "_packed")

    def __init__(self, packed: dict[int, Columns]) -> None:
        self._packed = packed
        self._cols = {
            bits: (memoryview(keys).cast("Q"), names, memoryview(ends).cast("I"))
            for bits, (keys, names, ends) in packed.items()
        }

    @classmethod
    def of(cls, table: Table) -> Packed:
        packed: dict[int, Columns] = {}
        for bits in BITS:
            rows = sorted(table.by_bits[bits].items())
            ends = list(accumulate(len(name) for _, name in rows))
            packed[bits] = (
                array("Q", [prefix for prefix, _ in rows]).tobytes(),
                "".join(name for _, name in rows),
                array("I", ends).tobytes(),
            )
        return cls(packed)

    def __len__(self) -> int:
        return sum(len(keys) for keys, _, _ in self._cols.values())

    def name(self, bits: int, prefix: int) -> str | None:
        keys, names, ends = self._cols[bits]
        i = bisect_left(keys, prefix)
        if i == len(keys) or keys[i] != prefix:
            return None
        return names[ends[i - 1] if i else 0 : ends[i]]

    def find(self, mac: int) -> str | None:
        for bits in BITS:
            name = self.name(bits, mac >> (48 - bits))
            if name is not None:
                return name
        return None

    @property
    def by_bits(self) -> dict[int, dict[int, str]]:
        """The table as dicts (for inspection and tests)."""
        out: dict[int, dict[int, str]] = {}
        for bits, (keys, names, ends) in self._cols.items():
            starts = [0, *ends][:-1]
            out[bits] = {k: names[a:b] for k, a, b in zip(keys, starts, ends, strict=True)}
        return out


def load_ieee(path: Path) -> Packed:
    """One IEEE registry CSV: Registry,Assignment,Organization Name,Organization Address.

    Parsed once per file and machine (`cache`): the four lists take ~60 ms to parse,
    a tenth of a short run."""
    return Packed(cache.cached(path, "ieee-v2", lambda p: Packed.of(parse_ieee(p))._packed, _is_packed))


def _is_packed(data: object) -> bool:
    """A cached IEEE table's shape: {bits: (prefixes, names, ends)} for exactly BITS,
    as many ends as prefixes, the last end the names' length (written by `Packed.of`)."""
    if not isinstance(data, dict) or sorted(data) != sorted(BITS):
        return False
    for cols in data.values():
        if not (isinstance(cols, tuple) and len(cols) == 3):
            return False
        keys, names, ends = cols
        if not (type(keys) is bytes and type(names) is str and type(ends) is bytes):
            return False
        if len(keys) % 8 or len(ends) != len(keys) // 2:
            return False
        last = memoryview(ends).cast("I")[-1] if ends else 0
        if last != len(names):
            return False
    return True


def parse_ieee(path: Path) -> Table:
    """One IEEE registry CSV read whole (`load_ieee` keeps what it gives)."""
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


def load_manuf(path: Path) -> Vendors:
    """Wireshark's manuf: `PREFIX[/bits]<TAB>short<TAB>full`; group addresses are skipped."""
    raw = path.read_bytes()
    raw.decode("utf-8")  # a file that is not UTF-8 fails here, as reading it as text would
    if b"\r" in raw:  # universal newlines, as text mode reads them
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    index = Manuf.of(raw)
    if index is not None:
        return index
    table = Table()
    for line in raw.decode("utf-8").split("\n"):
        if line and line[0] != "#":
            _manuf_line(table.by_bits, line)
    if not len(table):
        raise Corrupt("no vendor prefix")
    return table


def _manuf_line(by_bits: dict[int, dict[int, str]], line: str) -> None:
    """One line of manuf (not a comment, not empty) into the table."""
    parts = line.split("\t")
    if len(parts) < 2:
        return
    prefix, _, mask = parts[0].strip().partition("/")
    digits = prefix.replace(":", "").replace("-", "").replace(".", "")
    try:
        value = int(digits, 16)
        bits = int(mask) if mask else len(digits) * 4
    except ValueError:
        return
    if bits not in by_bits or len(digits) * 4 < bits:
        return
    value >>= len(digits) * 4 - bits
    name = (parts[2] if len(parts) > 2 else parts[1]).strip()
    if name:
        by_bits[bits][value] = name


# Every hexadecimal digit as "h": the shape of a line, to check its form in one pass.
_SHAPE = bytes.maketrans(b"0123456789ABCDEFabcdef", b"h" * 22)
_PLAIN = b"hh:hh:hh\t"  # XX:XX:XX<TAB>...: a 24-bit block
_MASKED = b"hh:hh:hh:hh:hh:hh/hh\t"  # XX:XX:XX:XX:XX:XX/NN<TAB>...: a 28- or 36-bit block


class Manuf:
    """manuf's lines, sorted by their first three octets; each 24-bit block parsed on first use.

    A line in one of manuf's two forms gives prefixes that begin with its first three
    octets and no others, so the lines of one block give all of its prefixes, in file
    order (the last line wins, as in a whole reading).
    """

    def __init__(self, lines: list[bytes], keys: list[bytes]) -> None:
        self._lines = lines
        self._keys = keys  # each line's first three octets, in lower case, sorted
        self._blocks: dict[int, dict[int, dict[int, str]]] = {}

    @classmethod
    def of(cls, raw: bytes) -> Manuf | None:
        """The index of a manuf file (universal newlines already), or None when it is not
        in the indexable form; Corrupt when it has no vendor at all."""
        lines = raw.split(b"\n")
        heads = map(bytes.translate, map(operator.itemgetter(slice(0, len(_MASKED))), lines), repeat(_SHAPE))
        usual = list(map(bytes.startswith, heads, repeat((_PLAIN, _MASKED))))
        comments = sum(map(bytes.startswith, lines, repeat(b"#")))
        if not any(usual) or sum(usual) + comments + lines.count(b"") != len(lines):
            return None
        lines = list(compress(lines, usual))
        keys = list(map(bytes.lower, map(operator.itemgetter(slice(0, 8)), lines)))
        if not all(map(operator.le, keys, islice(keys, 1, None))):
            return None
        scratch: dict[int, dict[int, str]] = {b: {} for b in BITS}
        for line in lines:  # as a whole reading would: Corrupt when no line gives a vendor
            _manuf_line(scratch, line.decode("utf-8"))
            if any(scratch.values()):
                return cls(lines, keys)
        raise Corrupt("no vendor prefix")

    def name(self, bits: int, prefix: int) -> str | None:
        block = prefix >> (bits - 24)
        found = self._blocks.get(block)
        if found is None:
            key = b"%02x:%02x:%02x" % (block >> 16, (block >> 8) & 0xFF, block & 0xFF)
            found = {b: {} for b in BITS}
            for line in self._lines[bisect_left(self._keys, key) : bisect_right(self._keys, key)]:
                _manuf_line(found, line.decode("utf-8"))
            self._blocks[block] = found
        return found[bits].get(prefix)

    def table(self) -> Table:
        """Every line parsed: the whole table (for inspection and tests)."""
        table = Table()
        for line in self._lines:
            _manuf_line(table.by_bits, line.decode("utf-8"))
        return table


def is_local(mac: int) -> bool:
    return bool(mac & LOCAL_BIT)


def lookup(tables: Sequence[Vendors], mac: int) -> str | None:
    """The vendor of a universally administered unicast MAC, else None."""
    if mac & (LOCAL_BIT | GROUP_BIT):
        return None
    for bits in BITS:
        key = mac >> (48 - bits)
        for t in tables:
            name = t.name(bits, key)
            if name:
                return name
    return None


def mac_int(text: str) -> int:
    return int(text.replace(":", "").replace("-", "").replace(".", ""), 16)
