"""p0f 3 TCP signatures (`p0f.fp`, sections `[tcp:request]` and `[tcp:response]`) and their matching.

The matching follows p0f 3.09's `fp_tcp.c`: option layout exact; quirks exact, except
that `df` or `id+` missing and `id-` or `ecn` added make a fuzzy match; IP option
length and payload class exact where given (one liberty: an IPv6 flow label, which
modern stacks always set and p0f.fp's signatures predate, is fuzzy, not a mismatch); MSS and window scale exact or `*`;
window size exact, `*`, `%N` (a multiple of N), `mss*N` or `mtu*N`; TTL at or below the
signature's initial TTL and within 35 hops of it, else fuzzy (a `64-` signature
demands only at or below). The first exact specific signature wins, else the first
exact generic (`g:`) one, else the first fuzzy one.

Observed signatures come from `dissectors.tcpfp` in the same text format, with the
TTL written `initial+distance` and the window as p0f prints it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nps_sensor.discovery.fingerprints import Corrupt, cache, log

MAX_DIST = 35
ANY = -1


@dataclass(frozen=True, slots=True)
class Label:
    generic: bool
    cls: str  # win, unix, other, or ! for applications
    name: str
    flavor: str

    def __str__(self) -> str:
        return f"{'g' if self.generic else 's'}:{self.cls}:{self.name}:{self.flavor}"


@dataclass(frozen=True, slots=True)
class Signature:
    ver: int
    ttl: int
    bad_ttl: bool
    olen: int
    mss: int
    win_type: str  # "" exact, "*" any, "%" modulo, "mss", "mtu"
    win: int
    scale: int
    layout: str
    quirks: frozenset[str]
    pclass: int
    label: Label


@dataclass(frozen=True, slots=True)
class Observed:
    ver: int
    ttl: int  # as seen
    olen: int
    mss: int
    win: int
    scale: int
    layout: str
    quirks: frozenset[str]
    pclass: int


@dataclass(frozen=True, slots=True)
class Match:
    label: Label
    fuzzy: bool
    distance: int


@dataclass(slots=True)
class Database:
    # direction ("request" for SYN, "response" for SYN+ACK) -> option layout -> signatures in file order
    sigs: dict[str, dict[str, list[Signature]]]

    def __len__(self) -> int:
        return sum(len(v) for by in self.sigs.values() for v in by.values())

    def match(self, observed: str, synack: bool = False) -> Match | None:
        try:
            obs = parse_observed(observed)
        except ValueError:
            return None
        candidates = self.sigs.get("response" if synack else "request", {}).get(obs.layout, ())
        exact: Signature | None = None
        generic: Signature | None = None
        fuzzy: Signature | None = None
        for ref in candidates:
            result = _compare(ref, obs)
            if result is None:
                continue
            if result:  # fuzzy
                if fuzzy is None:
                    fuzzy = ref
            elif not ref.label.generic:
                exact = ref
                break
            elif generic is None:
                generic = ref
        best = exact or generic
        if best is not None:
            return Match(best.label, False, best.ttl - obs.ttl)
        if fuzzy is not None:
            return Match(fuzzy.label, True, fuzzy.ttl - obs.ttl)
        return None


EMPTY = Database({})


def _compare(ref: Signature, obs: Observed) -> bool | None:
    """None: no match; False: exact; True: fuzzy."""
    if ref.ver not in (ANY, obs.ver):
        return None
    fuzzy = False
    quirks = ref.quirks
    if ref.ver == ANY:
        quirks = quirks - ({"flow"} if obs.ver == 4 else {"df", "id+", "id-"})
    if quirks != obs.quirks:
        deleted = quirks - obs.quirks
        added = obs.quirks - quirks
        if deleted - {"df", "id+"} or added - {"id-", "ecn", "flow"}:
            return None
        fuzzy = True
    if ref.olen != obs.olen:
        return None
    if ref.bad_ttl:
        if ref.ttl < obs.ttl:
            return None
    elif ref.ttl < obs.ttl or ref.ttl - obs.ttl > MAX_DIST:
        fuzzy = True
    if ref.mss not in (ANY, obs.mss):
        return None
    if ref.scale not in (ANY, obs.scale):
        return None
    if ref.pclass not in (ANY, obs.pclass):
        return None
    if ref.win_type == "":
        if ref.win != obs.win:
            return None
    elif ref.win_type == "%":
        if not ref.win or obs.win % ref.win:
            return None
    elif ref.win_type == "mss":
        if obs.win != ref.win * obs.mss:
            return None
    elif ref.win_type == "mtu" and obs.win != ref.win * (obs.mss + (40 if obs.ver == 4 else 60)):
        return None
    return fuzzy


def _int(field: str) -> int:
    return ANY if field == "*" else int(field)


def parse_signature(text: str, label: Label) -> Signature:
    """A `sig = ` value of p0f.fp; ValueError when it is not one."""
    parts = text.split(":")
    if len(parts) != 8:
        raise ValueError(f"{len(parts)} fields instead of 8")
    ver, ttl, olen, mss, window, layout, quirks, pclass = parts
    bad_ttl = ttl.endswith("-")
    ttl = ttl.rstrip("-")
    base, _, add = ttl.partition("+")
    size, _, scale = window.partition(",")
    if size == "*":
        win_type, win = "*", 0
    elif size.startswith("%"):
        win_type, win = "%", int(size[1:])
    elif size.startswith(("mss*", "mtu*")):
        win_type, win = size[:3], int(size[4:])
    else:
        win_type, win = "", int(size)
    return Signature(
        ver=_int(ver),
        ttl=int(base) + (int(add) if add else 0),
        bad_ttl=bad_ttl,
        olen=int(olen),
        mss=_int(mss),
        win_type=win_type,
        win=win,
        scale=_int(scale),
        layout=layout,
        quirks=frozenset(q for q in quirks.split(",") if q),
        pclass=ANY if pclass == "*" else (0 if pclass == "0" else 1),
        label=label,
    )


def parse_observed(text: str) -> Observed:
    """A signature as `dissectors.tcpfp` writes it (TTL as `initial+distance`)."""
    ver, ttl, olen, mss, window, layout, quirks, pclass = text.split(":")
    initial, _, dist = ttl.partition("+")
    seen_ttl = int(initial) - (int(dist) if dist else 0)
    mss_v = 0 if mss == "*" else int(mss)
    size, _, scale = window.partition(",")
    version = int(ver)
    if size.startswith("mss*"):
        win = int(size[4:]) * mss_v
    elif size.startswith("mtu*"):
        win = int(size[4:]) * (mss_v + (40 if version == 4 else 60))
    else:
        win = int(size)
    return Observed(
        ver=version,
        ttl=seen_ttl,
        olen=int(olen),
        mss=mss_v,
        win=win,
        scale=0 if scale in ("*", "") else int(scale),
        layout=layout,
        quirks=frozenset(q for q in quirks.split(",") if q),
        pclass=0 if pclass == "0" else 1,
    )


def parse_label(text: str) -> Label:
    parts = text.split(":", 3)
    if len(parts) != 4 or parts[0] not in ("s", "g"):
        raise ValueError(f"label {text!r} is not s|g:class:name:flavor")
    return Label(parts[0] == "g", parts[1], parts[2], parts[3])


# What `parse` makes of p0f.fp, as plain data (kept between runs by `cache`): each good
# signature as (section, label's fields, Signature's fields but its label, quirks as a
# sorted tuple), and the numbers of the lines not understood.
Rows = tuple[list[tuple[str, tuple[bool, str, str, str], tuple[Any, ...]]], list[int]]


def load(path: Path) -> Database:
    """p0f.fp's TCP sections. Bad lines are skipped (one warning, each run); a file with
    none good is Corrupt. Parsed once per file and machine (`cache`): parsing its some
    400 lines costs a run with a SYN fact 13 M instructions, reading them back 4 M
    (discovery's cost, issue 18)."""
    rows, bad = cache.cached(path, "p0f-v1", parse, _is_rows)
    if bad:
        log.warning(
            "fingerprint database %s: %d lines not understood (first: line %d), skipped", path, len(bad), bad[0]
        )
    sigs: dict[str, dict[str, list[Signature]]] = {"request": defaultdict(list), "response": defaultdict(list)}
    labels: dict[tuple[bool, str, str, str], Label] = {}
    for section, label_fields, fields in rows:
        label = labels.get(label_fields)
        if label is None:
            label = labels[label_fields] = Label(*label_fields)
        ver, ttl, bad_ttl, olen, mss, win_type, win, scale, layout, quirks, pclass = fields
        sig = Signature(ver, ttl, bad_ttl, olen, mss, win_type, win, scale, layout, frozenset(quirks), pclass, label)
        sigs[section][sig.layout].append(sig)
    return Database({k: dict(v) for k, v in sigs.items()})


def _is_rows(data: object) -> bool:
    """A cached parse's shape (written by `parse`: marshal's own tuples, lists, ints and strings)."""
    if not (isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], list) and isinstance(data[1], list)):
        return False
    return all(
        isinstance(r, tuple)
        and len(r) == 3
        and r[0] in ("request", "response")
        and isinstance(r[1], tuple)
        and len(r[1]) == 4
        and isinstance(r[2], tuple)
        and len(r[2]) == 11
        for r in data[0]
    )


def parse(path: Path) -> Rows:
    """p0f.fp's TCP sections as `Rows`; Corrupt when no line is a good signature."""
    rows: list[tuple[str, tuple[bool, str, str, str], tuple[Any, ...]]] = []
    section = ""
    label: Label | None = None
    bad: list[int] = []
    with path.open(encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    bad.append(number)
                    continue
                section = line[1:-1]
                label = None
                continue
            if section not in ("tcp:request", "tcp:response"):
                continue
            key, eq, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if not eq:
                bad.append(number)
            elif key == "label":
                try:
                    label = parse_label(value)
                except ValueError:
                    label = None
                    bad.append(number)
            elif key == "sig" and label is not None:
                try:
                    sig = parse_signature(value, label)
                except ValueError:
                    bad.append(number)
                    continue
                fields: tuple[Any, ...] = (sig.ver, sig.ttl, sig.bad_ttl, sig.olen, sig.mss, sig.win_type, sig.win)
                fields += (sig.scale, sig.layout, tuple(sorted(sig.quirks)), sig.pclass)
                rows.append((section[4:], (label.generic, label.cls, label.name, label.flavor), fields))
    if not rows:
        raise Corrupt("no TCP signature" + (f" (line {bad[0]} not understood)" if bad else ""))
    return rows, bad
