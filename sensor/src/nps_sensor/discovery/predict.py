"""OS and device predictions for one asset, from all its facts, each with its evidence and a confidence.

Every fact that a fingerprint or a rule understands becomes a weighted claim
(`fingerprints.claims`). Claims vote by source: each fact kind (`dhcp.prl`,
`http.user_agent`, `tcp.syn`, ...) counts once, with its strongest claim, so that a
device sending a hundred User-Agents does not outvote its NTLM version. Families
nest (Linux evidence supports Android, "network device" supports "switch"): the
winner is the most specific label with the largest support, and its name, version
and model come from its strongest claims.

Confidence is the strength of the agreeing sources (1 - the product of their
doubts) times their share of all the weight. Sources that disagree (Windows by
NTLM, Linux by the TCP SYN) lower it, set `conflict` and both stay in `candidates`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from nps_sensor.discovery import registry
from nps_sensor.discovery.calibration import calibrated
from nps_sensor.discovery.facts import Seen, Value
from nps_sensor.discovery.fingerprints import (
    Databases,
    brands,
    databases,
    identity,
    oui,
    rules,
)
from nps_sensor.discovery.fingerprints.claims import FAMILY_PARENT, OS, TYPE_PARENT, Claim, Device
from nps_sensor.discovery.matchers import Matchers
from nps_sensor.discovery.protocol import Fact, Reading
from nps_sensor.discovery.vote import LOOSE_TYPES, pick, vote

EVIDENCE_PER_SOURCE = 5  # shown per fact kind; all of them vote
NETWORK_OSES = {
    "Cisco IOS",
    "Cisco IOS XE",
    "Cisco IOS XR",
    "Cisco NX-OS",
    "Junos",
    "RouterOS",
    "Huawei VRP",
    "Comware",
}
NETWORK_OSES |= {"ScreenOS", "FortiOS", "PAN-OS", "ArubaOS", "Cisco ASA", "Cisco AireOS", "LCOS", "OpenWrt"}


@dataclass(frozen=True, slots=True)
class Evidence:
    source: str  # fact kind: "dhcp.prl", "tcp.syn", "oui", ...
    value: str
    claim: Claim

    def report(self, says: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "value": self.value, "weight": round(self.claim.weight, 2)}
        if says:
            out["says"] = says
        if self.claim.match:
            out["match"] = self.claim.match
        return out


def _text(value: Value) -> str:
    return value if isinstance(value, str) else " ".join(str(v) for v in value)


def gather(facts: Iterable[tuple[str, str, Value]], m: Matchers) -> list[Evidence]:
    """Every claim the facts support, each fact read by the rule its protocol declares.

    What one fact says is worked out once per databases (`Databases.memo`): the same
    fact on another device, or in the next report, costs a dictionary look-up. A fact
    whose rule also reads another fact of its source (an ICS product name, the vendor
    beside it: `Fact.needs`) has that value in its key; a tuple's key names its items'
    types.
    """
    out: list[Evidence] = []
    facts = list(facts)
    memo = m.db.memo
    last: dict[tuple[str, str], str] | None = None  # made for the first fact with `needs`, if any
    declared = registry.FACTS  # registry.fact's table, read here once per device rather than once per fact
    for fact in facts:
        source, key, value = fact
        spec = declared.get((source, key))
        needed = None
        k: Any = fact
        if spec is not None and spec.needs:
            if last is None:
                last = _last_texts(facts)
            needed = last.get((source, spec.needs))
            k = (fact, needed)
        elif not isinstance(value, str):  # ("tcp", 80) and ("tcp", True) are equal keys, not equal facts
            k = (fact, tuple(map(type, value)))
        found = memo.get(k)
        if found is None:
            found = m.db.remember(k, _evidence_of(source, key, value, Reading(m, needed), spec))
        out.extend(found)
    return out


def _last_texts(facts: list[tuple[str, str, Value]]) -> dict[tuple[str, str], str]:
    """The value of every text fact, the last one kept: what a fact's `needs` reads. Made
    only for a device with such a fact (an ICS product's vendor), not for every device's
    every fact (discovery's cost, issue 18)."""
    last: dict[tuple[str, str], str] = {}
    for source, key, value in facts:
        if isinstance(value, str):
            last[(source, key)] = value
    return last


def _evidence_of(source: str, key: str, value: Value, r: Reading, spec: Fact | None) -> tuple[Evidence, ...]:
    """The evidence one fact gives: its rule's claims, what it says of the device's
    identity (`identity`), and for any service the port it listens on."""
    if key == "service" and not isinstance(value, str):
        c = rules.port(str(value[0]), value[1]) if len(value) == 3 and isinstance(value[1], int) else None
        return (Evidence("service", f"{value[0]}/{value[1]}", c),) if c else ()
    claims = spec.reads(value, r) if spec is not None and spec.reads is not None else []
    if isinstance(value, str):
        claims = claims + identity.claims(source, key, value)
    if not claims:
        return ()
    kind, shown = f"{source}.{key}", _text(value)
    return tuple(Evidence(kind, shown, c) for c in claims)


# OS predictions already made, by the identity of the evidence that voted: the evidence
# of a fact is made once per run (`gather`), and many devices hold the same OS evidence
# (one User-Agent, one DHCP client, one TCP stack): on plain, 276 OS votes of 37 kinds.
# Each entry keeps its evidence alive, so no id in a key is reused while it is kept.
_os_memo: dict[tuple[object, ...], tuple[list[Evidence], tuple[dict[str, Any] | None, float]]] = {}
OS_MEMO_MAX = 10_000


def _os(evidence: list[Evidence], calibrate: bool = True) -> tuple[dict[str, Any] | None, float]:
    """The OS prediction, and its vote's raw confidence (what it says of the device weighs by that).

    A function of the evidence that names an OS, in order, alone: counted once per such
    list (discovery's cost, issue 18); the devices that share it share its dict, which
    no one changes."""
    mine = [e for e in evidence if e.claim.os is not None]
    if not mine:
        return None, 0.0
    key = (calibrate, *map(id, mine))
    hit = _os_memo.get(key)
    if hit is not None:
        return hit[1]
    result = _os_vote(mine, calibrate)
    if len(_os_memo) >= OS_MEMO_MAX:
        _os_memo.clear()
    _os_memo[key] = (mine, result)
    return result


def _os_vote(evidence: list[Evidence], calibrate: bool) -> tuple[dict[str, Any] | None, float]:
    claims = [(e, e.claim.os) for e in evidence if e.claim.os is not None]
    v = vote([(e.source, e.claim.weight, os.family) for e, os in claims if os], FAMILY_PARENT)
    assert v is not None
    mine = [(e, os) for e, os in claims if os and os.family == v.label]
    name = _name([(e.source, e.claim.weight, os) for e, os in mine]) or v.label
    versions = sorted(
        ((e.claim.weight, len(os.version or ""), os.version) for e, os in mine if os.name == name and os.version),
        reverse=True,
    )
    out: dict[str, Any] = {"name": name}
    if versions:
        out["version"] = versions[0][2]
    names_by_family: dict[str, str] = {}
    for fam, _ in v.candidates:
        of = [(e.source, e.claim.weight, os) for e, os in claims if os and os.family == fam]
        names_by_family[fam] = _name(of) or fam
    out |= {
        "family": v.label,
        "confidence": calibrated("os", v.confidence) if calibrate else v.confidence,
        "conflict": v.conflict,
        "candidates": [{"family": f, "name": names_by_family[f], "score": round(s, 2)} for f, s in v.candidates],
        "evidence": _shown([(e, _says_os(os)) for e, os in claims if os]),
    }
    return out, v.confidence


def _name(items: list[tuple[str, float, OS]]) -> str | None:
    """The OS name most sources agree on; a name that only repeats the family ("Windows")
    counts only where no source names a product ("Windows 10")."""
    specific = [(source, weight, os.name) for source, weight, os in items if os.name != os.family]
    return pick(specific or [(source, weight, os.name) for source, weight, os in items])


def _says_os(os: OS) -> str:
    return os.name + (f" {os.version}" if os.version else "")


def _device(
    evidence: list[Evidence], os: dict[str, Any] | None, os_raw: float = 0.0, calibrate: bool = True
) -> dict[str, Any] | None:
    devices = [(e, e.claim.device) for e in evidence if e.claim.device is not None]
    typed = [(e, d) for e, d in devices if d and d.type]
    implied = _implied(os, os_raw, bool(typed))
    if implied is not None:
        e = Evidence("os", os["name"] if os else "", implied)
        assert implied.device is not None
        typed.append((e, implied.device))
        devices.append((e, implied.device))
    if not typed and not any(d and (d.model or d.vendor) for _, d in devices):
        return None
    v = vote([(e.source, e.claim.weight, d.type) for e, d in typed if d and d.type], TYPE_PARENT, LOOSE_TYPES)
    vendors = [(e.source, e.claim.weight, _vendor_key(d.vendor)) for e, d in devices if d and d.vendor]
    vendor_key = pick([v for v in vendors if v[0] != "oui"] or vendors)  # the MAC's block: a fallback
    vendor = None
    model = None
    if vendor_key:
        named = sorted(
            ((e.claim.weight, d.vendor) for e, d in devices if d and d.vendor and _vendor_key(d.vendor) == vendor_key),
            key=lambda wv: (-wv[0], len(wv[1] or "")),
        )
        vendor = named[0][1]
    models = sorted(
        (
            (e.claim.weight, d.model)
            for e, d in devices
            if d and d.model and (vendor_key is None or d.vendor is None or _vendor_key(d.vendor) == vendor_key)
        ),
        key=lambda wm: (-wm[0], wm[1] or ""),
    )
    if models:
        model = models[0][1]
    out: dict[str, Any] = {"type": v.label if v else None, "vendor": vendor, "model": model}
    raw = v.confidence if v else round(max(e.claim.weight for e, _ in devices), 2)
    out["confidence"] = calibrated("type", raw) if calibrate and v else raw
    out["conflict"] = v.conflict if v else False
    out["candidates"] = [{"type": t, "score": round(s, 2)} for t, s in v.candidates] if v else []
    out["evidence"] = _shown([(e, _says_device(d)) for e, d in devices if d])
    return out


# What an OS says of the device it runs on, weakly: other evidence names it better.
OS_TYPES = {
    "macOS": ("workstation", "Apple", 0.3),
    "iOS": ("phone", "Apple", 0.3),
    "iPadOS": ("tablet", "Apple", 0.3),
    "Android": ("phone", None, 0.2),
    "ChromeOS": ("workstation", None, 0.25),
    "Windows": ("workstation", None, 0.2),
}


def _implied(os: dict[str, Any] | None, raw: float, typed: bool) -> Claim | None:
    """The kind of device the OS runs on: a network OS always says so; a desktop or
    phone OS only where nothing else names the type (a Windows VM stays a VM)."""
    if not os:
        return None
    if os["family"] in NETWORK_OSES:
        return Claim(round(0.5 * raw, 2), None, Device("network device"))
    hit = None if typed else OS_TYPES.get(os["family"])
    if hit is None:
        return None
    kind, vendor, weight = hit
    if os["family"] == "Windows" and "Server" in os["name"] and "/" not in os["name"]:
        kind = "server"
    return Claim(round(weight * raw, 2), None, Device(kind, vendor))


def _says_device(d: Device) -> str:
    return " ".join(x for x in (d.type, d.vendor, d.model) if x)


@cache  # a few vendors, asked for by every device that names them
def _vendor_key(vendor: str | None) -> str:
    words = re.findall(r"[a-z0-9]+", (vendor or "").lower())
    return words[0] if words else ""


def _shown(items: list[tuple[Evidence, str]]) -> list[dict[str, Any]]:
    items = sorted(items, key=lambda es: (-es[0].claim.weight, es[0].source, es[0].value))
    per: dict[str, int] = {}
    out = []
    for e, says in items:
        per[e.source] = per.get(e.source, 0) + 1
        if per[e.source] <= EVIDENCE_PER_SOURCE:
            out.append(e.report(says))
    return out


def predict(
    facts: dict[tuple[str, str, Value], Seen],
    mac: int | None = None,
    *,
    router: bool | int = False,
    db: Databases | None = None,
    only: Callable[[Evidence], bool] | None = None,
    calibrate: bool = True,
) -> dict[str, Any]:
    """The report fields `vendor`, `os` and `device` of one asset.

    `facts` are the asset's (`Profiles.facts_of`); `mac` its MAC where known.
    `router`: the MAC carries many IP addresses (True, or how many), so it routes.
    Adds `vendor_note` when the MAC is locally administered and so has no vendor.
    `only` keeps the evidence it accepts (the benchmark scores one database alone);
    `calibrate` False gives the votes' raw confidences (what the calibration is fitted to).
    """
    m = Matchers(db or databases())
    evidence = gather(facts.keys(), m)
    out: dict[str, Any] = {"vendor": None}
    module = None
    if mac is not None and 0 < mac < 1 << 48 and not mac & oui.GROUP_BIT:
        if oui.is_local(mac):
            out["vendor_note"] = "locally administered MAC (randomized, virtual or assigned by software): no vendor"
        else:
            vendor, claim = m.vendor(mac)
            out["vendor"] = vendor
            if vendor and brands.reserved(mac):
                out["vendor_note"] = f"a reserved or lab block ({vendor}'s first blocks, IANA's): no claim from it"
            elif vendor and claim:
                evidence.append(Evidence("oui", _mac(mac), claim))
            if vendor and brands.module_maker(vendor):
                module = vendor
    if router:
        count = f" with {router} IP addresses" if router is not True and int(router) > 1 else " with many IP addresses"
        evidence.append(Evidence("identity", f"MAC seen{count}", Claim(0.8, None, Device("router"))))
    clients = {n for s, k, v in facts if s == "tls" and k in ("ja3", "ja4") and isinstance(v, str) for n in m.tls(v)[0]}
    if clients:
        out["tls_clients"] = sorted(clients)  # the client stacks its JA3s and JA4s are known from
    if only is not None:
        evidence = [e for e in evidence if only(e)]
    out["os"], os_raw = _os(evidence, calibrate)
    out["device"] = _device(evidence, out["os"], os_raw, calibrate)
    if module:  # the Wi-Fi module's maker, never the brand
        out["device"] = (out["device"] or {"type": None, "vendor": None, "model": None, "confidence": 0.0}) | {
            "module": module
        }
    return out


def _mac(mac: int) -> str:
    return mac.to_bytes(6, "big").hex(":")
