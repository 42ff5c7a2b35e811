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

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from nps_sensor.discovery.facts import Seen, Value
from nps_sensor.discovery.fingerprints import (
    Databases,
    brands,
    databases,
    fingerbank,
    identity,
    oui,
    p0f,
    rules,
    satori,
)
from nps_sensor.discovery.fingerprints.claims import FAMILY_PARENT, OS, TYPE_PARENT, Claim, Device, family, lineage

# Fact kinds that are one source when voting: a host's SYN and SYN+ACK are one TCP stack.
VOTE_GROUPS = {
    "tcp.synack": "tcp.syn",
    "ssh.client_banner": "ssh.server_banner",
    "smb.native_lanman": "smb.native_os",
    "lldp.capabilities": "lldp.capabilities_enabled",
    "ssdp.user_agent": "ssdp.server",
    "ssdp.st": "ssdp.nt",
    "mdns.srv": "mdns.service",
    "tls.sni": "http.host",
    # A name is one source whichever protocol carried it: a device that says its name
    # by DHCP, mDNS and NetBIOS has said one thing three times.
    **{f"{s}.hostname": "name" for s in ("dhcp", "dhcpv6", "dns", "mdns", "nbns", "netbios", "llmnr", "smb", "ssdp")},
    "dhcp.fqdn": "name",
    "dhcpv6.fqdn": "name",
}
PRL_DEVICE_WEIGHT = 0.25  # a DHCP client is shared by every product built on it: its kind is a hint
LOOSE_TYPES = frozenset({"virtual machine"})
EVIDENCE_PER_SOURCE = 5  # shown per fact kind; all of them vote
CONFLICT_SHARE = 0.3  # an incompatible candidate with at least this share of the winner's score is a conflict
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


class Matchers:
    """The databases' matchers, each loading its database on first use."""

    def __init__(self, db: Databases) -> None:
        self.db = db

    def p0f(self, signature: str, synack: bool) -> Claim | None:
        m = self.db.get("p0f", p0f.load, p0f.EMPTY).match(signature, synack)
        if m is None or m.label.cls == "!" or m.label.name in ("p0f", "NMap", "BaiduSpider"):
            return None
        fam = family(m.label.name) or m.label.name
        name, version = fam, m.label.flavor or None
        if fam == "Windows" and not m.label.generic and version:
            name, version = f"Windows {version}", None  # "7 or 8", "XP": a product, not a kernel
        weight = 0.2 if m.fuzzy else (0.3 if m.label.generic else 0.45)
        device = None
        if m.label.name == "Nintendo":
            device = Device("game console", "Nintendo")
        elif m.label.name == "Blackberry":
            device = Device("phone", "BlackBerry")
        fuzzy = " (fuzzy)" if m.fuzzy else ""
        return Claim(weight, OS(fam, name, version), device, f"p0f {m.label}{fuzzy}")

    def dhcp_prl(self, prl: str) -> list[Claim]:
        """Option 55 names the DHCP client, so the OS; the products built on that client
        are many, so the device type is a hint and the vendor is left out."""
        out: list[Claim] = []
        for c in self._prl(prl):
            out.append(Claim(c.weight, c.os, None, c.match))
            if c.device and c.device.type:
                out.append(Claim(min(c.weight, PRL_DEVICE_WEIGHT), None, Device(c.device.type), c.match))
        return [c for c in out if c.os or c.device]

    def _prl(self, prl: str) -> list[Claim]:
        out = []
        fb = self.db.get("fingerbank", fingerbank.load, fingerbank.EMPTY).by_prl.get(prl)
        if fb:
            c = satori.best([(claim, 5) for claim in fb], 0.9, "FingerBank")
            if c:
                out.append(c)
        idx = self.db.get("satori-dhcp", _satori("dhcp_tests"), satori.EMPTY)
        c = satori.best(idx.match("dhcpoption55", prl))
        if c:
            out.append(c)
        return out

    def dhcp_vendor(self, vendor: str) -> list[Claim]:
        out = []
        c = rules.dhcp_vendor_class(vendor)
        if c:
            out.append(c)
        fb = self.db.get("fingerbank", fingerbank.load, fingerbank.EMPTY).by_vendor.get(vendor)
        if fb:
            c = satori.best([(claim, 3) for claim in fb], 0.8, "FingerBank")
            if c:
                out.append(c)
        idx = self.db.get("satori-dhcp", _satori("dhcp_tests"), satori.EMPTY)
        c = satori.best(idx.match("dhcpvendorcode", vendor), 0.8)
        if c:
            out.append(c)
        return out

    def ssh(self, banner: str) -> list[Claim]:
        c = rules.ssh_banner(banner)
        if c:
            return [c]
        idx = self.db.get("satori-ssh", _satori("ssh_tests"), satori.EMPTY)
        c = satori.best(idx.match("ssh", banner), 0.8)
        return [c] if c else []

    def smb(self, text: str, lanman: bool) -> list[Claim]:
        c = None if lanman else rules.smb_native_os(text)
        if c:
            return [c]
        idx = self.db.get("satori-smb", _satori("smb_tests"), satori.EMPTY)
        c = satori.best(idx.match("smbnativelanman" if lanman else "smbnativename", text), 0.9)
        if c is None and lanman:
            c = rules.smb_native_os(text)
        return [c] if c else []

    def http_server(self, text: str) -> list[Claim]:
        c = rules.http_server(text)
        if c:
            return [c]
        idx = self.db.get("satori-web", _satori("webserver_tests", os_names=False), satori.EMPTY)
        c = satori.best(idx.match("webserver", text), 0.7)
        return [c] if c else []

    def vendor(self, mac: int) -> tuple[str | None, Claim | None]:
        """The MAC's vendor and what it says about the device, the same for every MAC
        of one 36-bit block (the longest prefix the lists know)."""
        k = ("vendor", mac >> 12)
        hit: tuple[str | None, Claim | None] | None = self.db.memo.get(k)
        if hit is not None:
            return hit
        tables = [self.db.get(name, oui.load_ieee, oui.EMPTY) for name in ("oui36", "iab", "mam", "oui")]
        found = oui.lookup(tables, mac)
        if found is None and not oui.is_local(mac):
            found = oui.lookup([self.db.get("manuf", oui.load_manuf, oui.EMPTY)], mac)
        return self.db.remember(k, (found, _oui_claim(found) if found else None))


IOT_MODULES = re.compile(
    r"^(Espressif|Hi-?flying|Shanghai High-Flying|GainSpan|Tuya|Shenzhen Bilian|Particle|Beken)", re.I
)


def _oui_claim(registrant: str) -> Claim | None:
    """What a block's registrant says: the brand (a fallback) and a kind for single-purpose
    makers; for a Wi-Fi module's maker, at most that the device is a small one."""
    if brands.module_maker(registrant):
        return Claim(0.3, None, Device("IoT")) if IOT_MODULES.match(registrant) else None
    c = rules.oui_vendor(registrant)
    assert c.device is not None
    return Claim(c.weight, c.os, Device(c.device.type, brands.brand(registrant)), c.match)


def _satori(tag: str, os_names: bool = True) -> Callable[[Any], satori.Index]:
    return lambda path: satori.load(path, tag, os_names)


def _text(value: Value) -> str:
    return value if isinstance(value, str) else " ".join(str(v) for v in value)


ICS_SOURCES = frozenset({"modbus", "enip", "bacnet", "s7comm"})
ICS_PRODUCT_SOURCES = frozenset({"modbus", "enip", "bacnet"})
ICS_PRODUCT_KEYS = frozenset({"product", "product_name", "product_code", "model", "model_name"})


def gather(facts: Iterable[tuple[str, str, Value]], m: Matchers) -> list[Evidence]:
    """Every claim the facts support.

    What one fact says is worked out once per databases (`Databases.memo`): the same
    fact on another device, or in the next report, costs a dictionary look-up. An ICS
    product name is the one fact whose claim depends on another (the vendor beside
    it), so that vendor is part of its key; a tuple's key names its items' types.
    """
    out: list[Evidence] = []
    ics_vendor: dict[str, str] = {}
    facts = list(facts)
    memo = m.db.memo
    for source, key, value in facts:
        if source in ICS_SOURCES and key == "vendor" and isinstance(value, str):
            ics_vendor[source] = _ics_vendor(value, m)
    for fact in facts:
        source, key, value = fact
        k: Any = fact
        if source in ICS_PRODUCT_SOURCES and key in ICS_PRODUCT_KEYS:
            k = (fact, ics_vendor.get(source))
        elif not isinstance(value, str):  # ("tcp", 80) and ("tcp", True) are equal keys, not equal facts
            k = (fact, tuple(map(type, value)))
        found = memo.get(k)
        if found is None:
            found = m.db.remember(k, _evidence_of(source, key, value, m, ics_vendor))
        out.extend(found)
    return out


def _ics_vendor(value: str, m: Matchers) -> str:
    k = ("ics_vendor", value)
    found = m.db.memo.get(k)
    return found if found is not None else m.db.remember(k, rules.ics_vendor(value))


def _evidence_of(source: str, key: str, value: Value, m: Matchers, ics_vendor: dict[str, str]) -> tuple[Evidence, ...]:
    """The evidence one fact gives."""
    kind = f"{source}.{key}"
    claims: list[Claim] = []
    if isinstance(value, str):
        claims = _claims_of(source, key, value, m, ics_vendor) + identity.claims(source, key, value)
    elif key == "service" and len(value) == 3 and isinstance(value[1], int):
        c = rules.port(str(value[0]), value[1])
        return (Evidence("service", f"{value[0]}/{value[1]}", c),) if c else ()
    elif source == "mdns" and key == "hinfo" and len(value) == 2:
        c = rules.mdns_hinfo(str(value[0]), str(value[1]))
        claims = [c] if c else []
    elif source == "mdns" and key == "srv" and len(value) == 3:
        c = rules.mdns_service(str(value[0]))
        claims = ([c] if c else []) + identity.service(str(value[0]))
    if not claims:
        return ()
    shown = _text(value)
    return tuple(Evidence(kind, shown, c) for c in claims)


def _claims_of(source: str, key: str, value: str, m: Matchers, ics_vendor: dict[str, str]) -> list[Claim]:
    one: Claim | None = None
    if source == "tcp" and key in ("syn", "synack"):
        one = m.p0f(value, key == "synack")
    elif source == "dhcp" and key == "prl":
        return m.dhcp_prl(value)
    elif source == "dhcp" and key == "vendor_class":
        return m.dhcp_vendor(value)
    elif source == "dhcpv6" and key == "vendor_class":
        c = rules.dhcp_vendor_class(value.partition(":")[2] or value)  # "311:MSFT 5.0"
        one = Claim(c.weight, c.os, c.device, c.match) if c else None
    elif source == "http" and key == "user_agent":
        one = rules.user_agent(value)
    elif source == "http" and key == "server":
        return m.http_server(value)
    elif source == "ssh" and key in ("server_banner", "client_banner"):
        claims = m.ssh(value)
        if key == "client_banner":
            claims = [Claim(c.weight * 0.8, c.os, c.device, c.match) for c in claims]
        return claims
    elif source == "smb" and key in ("native_os", "native_lanman", "lanman"):
        return m.smb(value, key != "native_os")
    elif source in ("ntlm", "smb") and key in ("os_version", "version"):
        one = rules.ntlm_version(value)
    elif source == "netbios" and key == "os_version":
        one = rules.netbios_version(value)
    elif source == "netbios" and key == "role":
        one = _netbios_role(value)
    elif source in ("lldp", "cdp", "snmp") and key in (
        "system_description",
        "platform",
        "software_version",
        "sys_descr",
        "description",
    ):
        one = rules.description(value)
    elif source in ("lldp", "cdp") and key in ("capabilities", "capabilities_enabled"):
        one = rules.capabilities(value, enabled=source == "cdp" or key == "capabilities_enabled")
    elif source == "lldp" and key in ("manufacturer", "model"):  # LLDP-MED inventory
        one = Claim(
            0.7, None, Device(None, value.strip(), None) if key == "manufacturer" else Device(None, None, value)
        )
    elif source == "snmp" and key in ("sys_object_id", "engine_enterprise", "trap_enterprise"):
        one = rules.snmp_enterprise(value)
    elif source == "ssdp" and key in ("server", "user_agent"):
        one = rules.ssdp_server(value)
    elif source == "ntp" and key == "system":
        c = rules.description(value)
        one = Claim(round(c.weight * 0.7, 2), c.os, c.device, c.match) if c else None
    elif source == "ntp" and key == "stratum" and value == "1":  # a clock of its own: a time server
        one = Claim(0.5, None, Device("time server"))
    elif source == "ndp" and key == "role" and value == "router":
        one = Claim(0.6, None, Device("router"))
    elif source == "mdns" and key == "model":
        one = rules.mdns_model(value)
    elif source == "mdns" and key == "manufacturer":
        one = Claim(0.5, None, Device(None, value.strip()))
    elif source == "mdns" and key == "service":
        service = "_" + value.split("._", 1)[1] if "._" in value else ""
        one = rules.mdns_service(".".join(service.split(".")[:2]))
    elif source == "s7comm" and key in (
        "module",
        "module_type",
        "order_number",
        "hardware_order_number",
        "system_name",
    ):
        one = (
            rules.s7_module(value)
            if re.match(r"\s*6(?:ES7|AV|ES5)", value)
            else rules.ics_product(value, "Siemens", 0.8)
        )
    elif source in ("modbus", "enip", "bacnet") and key == "vendor":
        one = Claim(0.7, None, Device("ICS device", rules.ics_vendor(value)))
    elif source in ("modbus", "enip", "bacnet") and key in (
        "product",
        "product_name",
        "product_code",
        "model",
        "model_name",
    ):
        if value.strip().isdigit():  # EtherNet/IP's product code is a number, not a name
            return []
        one = rules.ics_product(value, ics_vendor.get(source), 0.85)
        if source == "bacnet" and one.device and one.device.type == "ICS device":
            one = Claim(one.weight, None, Device("building controller", one.device.vendor, one.device.model))
    elif source == "enip" and key == "device_type":
        kind = "PLC" if "logic controller" in value.lower() else ("HMI" if "interface" in value.lower() else None)
        one = Claim(0.8 if kind else 0.5, None, Device(kind or "ICS device"))
    elif source == "bacnet" and key == "device_instance":
        one = Claim(0.5, None, Device("building controller"))
    elif source == "dnp3" and key == "role":
        one = Claim(0.6, None, Device("RTU")) if value == "outstation" else Claim(0.3, None, Device("ICS device"))
    return [one] if one else []


def _netbios_role(role: str) -> Claim | None:
    r = role.lower()
    if "domain controller" in r:
        return Claim(0.6, OS("Windows", "Windows Server"), Device("server"))
    if r == "sql server":
        return Claim(0.4, None, Device("server"))
    return None  # "unix" (SV_TYPE_SERVER_UNIX) proves nothing: Windows 10 announces it too


# --- voting ----------------------------------------------------------------------


@dataclass(slots=True)
class Vote:
    label: str
    score: float
    confidence: float
    conflict: bool
    candidates: list[tuple[str, float]]


def vote(
    items: list[tuple[str, float, str]], parents: dict[str, str], loose: frozenset[str] = frozenset()
) -> Vote | None:
    """items: (source, weight, label). Each source counts once per label, with its best weight.

    A `loose` label ("virtual machine") says how a device exists, not what it does: it
    agrees with every sibling ("server", "workstation") and loses ties to them.
    """
    if not items:
        return None
    items = [(VOTE_GROUPS.get(source, source), weight, label) for source, weight, label in items]
    chains = {label: lineage(label, parents) for _, _, label in items}

    def compatible(a: str, b: str) -> bool:
        if a in chains[b] or b in chains[a]:
            return True
        if not loose:
            return False
        return any(x in loose and len(chains[x]) > 1 and chains[x][1] in chains[y] for x, y in ((a, b), (b, a)))

    def support(label: str) -> dict[str, float]:
        best: dict[str, float] = {}
        for source, weight, other in items:
            if compatible(label, other) and weight > best.get(source, 0.0):
                best[source] = weight
        return best

    supports = {label: support(label) for label in chains}
    scores = {label: sum(s.values()) for label, s in supports.items()}
    winner = max(scores, key=lambda label: (round(scores[label], 6), label not in loose, len(chains[label]), label))
    total_by_source: dict[str, float] = {}
    for source, weight, _ in items:
        total_by_source[source] = max(weight, total_by_source.get(source, 0.0))
    total = sum(total_by_source.values())
    doubt = math.prod(1.0 - min(w, 0.99) for w in supports[winner].values())
    confidence = (1.0 - doubt) * (scores[winner] / total if total else 0.0)
    conflict = any(
        not compatible(winner, other) and scores[other] >= CONFLICT_SHARE * scores[winner] for other in scores
    )
    # Ancestors of the winner add nothing to it ("network device" beside "switch").
    ranked = sorted(
        ((label, score) for label, score in scores.items() if label == winner or label not in chains[winner]),
        key=lambda kv: (-kv[1], -len(chains[kv[0]]), kv[0]),
    )
    return Vote(winner, scores[winner], round(confidence, 2), conflict, ranked)


def _pick(items: list[tuple[str, float, str]]) -> str | None:
    """The label with the largest sum of per-source best weights."""
    if not items:
        return None
    best: dict[tuple[str, str], float] = {}
    for kind, weight, label in items:
        source = VOTE_GROUPS.get(kind, kind)
        best[(label, source)] = max(weight, best.get((label, source), 0.0))
    scores: dict[str, float] = {}
    for (label, _), weight in best.items():
        scores[label] = scores.get(label, 0.0) + weight
    return max(scores, key=lambda label: (round(scores[label], 6), len(label), label))


def _os(evidence: list[Evidence]) -> dict[str, Any] | None:
    claims = [(e, e.claim.os) for e in evidence if e.claim.os is not None]
    if not claims:
        return None
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
        "confidence": v.confidence,
        "conflict": v.conflict,
        "candidates": [{"family": f, "name": names_by_family[f], "score": round(s, 2)} for f, s in v.candidates],
        "evidence": _shown([(e, _says_os(os)) for e, os in claims if os]),
    }
    return out


def _name(items: list[tuple[str, float, OS]]) -> str | None:
    """The OS name most sources agree on; a name that only repeats the family ("Windows")
    counts only where no source names a product ("Windows 10")."""
    specific = [(source, weight, os.name) for source, weight, os in items if os.name != os.family]
    return _pick(specific or [(source, weight, os.name) for source, weight, os in items])


def _says_os(os: OS) -> str:
    return os.name + (f" {os.version}" if os.version else "")


def _device(evidence: list[Evidence], os: dict[str, Any] | None) -> dict[str, Any] | None:
    devices = [(e, e.claim.device) for e in evidence if e.claim.device is not None]
    typed = [(e, d) for e, d in devices if d and d.type]
    implied = _implied(os, bool(typed))
    if implied is not None:
        e = Evidence("os", os["name"] if os else "", implied)
        assert implied.device is not None
        typed.append((e, implied.device))
        devices.append((e, implied.device))
    if not typed and not any(d and (d.model or d.vendor) for _, d in devices):
        return None
    v = vote([(e.source, e.claim.weight, d.type) for e, d in typed if d and d.type], TYPE_PARENT, LOOSE_TYPES)
    vendors = [(e.source, e.claim.weight, _vendor_key(d.vendor)) for e, d in devices if d and d.vendor]
    vendor_key = _pick([v for v in vendors if v[0] != "oui"] or vendors)  # the MAC's block: a fallback
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
    out["confidence"] = v.confidence if v else round(max(e.claim.weight for e, _ in devices), 2)
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


def _implied(os: dict[str, Any] | None, typed: bool) -> Claim | None:
    """The kind of device the OS runs on: a network OS always says so; a desktop or
    phone OS only where nothing else names the type (a Windows VM stays a VM)."""
    if not os:
        return None
    if os["family"] in NETWORK_OSES:
        return Claim(round(0.5 * os["confidence"], 2), None, Device("network device"))
    hit = None if typed else OS_TYPES.get(os["family"])
    if hit is None:
        return None
    kind, vendor, weight = hit
    if os["family"] == "Windows" and "Server" in os["name"] and "/" not in os["name"]:
        kind = "server"
    return Claim(round(weight * os["confidence"], 2), None, Device(kind, vendor))


def _says_device(d: Device) -> str:
    return " ".join(x for x in (d.type, d.vendor, d.model) if x)


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
) -> dict[str, Any]:
    """The report fields `vendor`, `os` and `device` of one asset.

    `facts` are the asset's (`Profiles.facts_of`); `mac` its MAC where known.
    `router`: the MAC carries many IP addresses (True, or how many), so it routes.
    Adds `vendor_note` when the MAC is locally administered and so has no vendor.
    `only` keeps the evidence it accepts (the benchmark scores one database alone).
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
    if only is not None:
        evidence = [e for e in evidence if only(e)]
    out["os"] = _os(evidence)
    out["device"] = _device(evidence, out["os"])
    if module:  # the Wi-Fi module's maker, never the brand
        out["device"] = (out["device"] or {"type": None, "vendor": None, "model": None, "confidence": 0.0}) | {
            "module": module
        }
    return out


def _mac(mac: int) -> str:
    return ":".join(f"{(mac >> s) & 0xFF:02x}" for s in range(40, -8, -8))
