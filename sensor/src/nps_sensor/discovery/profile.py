"""Profiles: every fact about a device, kept for the run, and the report fields made of them.

A fact names its device by IP, by MAC, or both. Facts about an address go to that
address's profile, facts about a MAC (a DHCP DISCOVER from 0.0.0.0, an LLDP frame)
to the MAC's; an asset's report fields are made from its address's profile and its
MAC's. Each profile keeps each distinct fact once, with when it was first and last
seen and how often, and at most `MAX_VALUES` values per (source, key): a device
that invents a new User-Agent every minute cannot grow the sensor without bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from nps_sensor.discovery.facts import NO_IP, NO_MAC, Key, Seen, Value

MAX_VALUES = 64
LOCAL_BIT = 0x02 << 40
# Default names that many devices share: no evidence that two interfaces are one host.
GENERIC_NAMES = re.compile(
    r"^(raspberrypi|localhost|android|iphone|ipad|imac|macbook(-pro|-air)?|ubuntu|debian|kali|linux|"
    r"homeassistant|octopi|esp[_-]?[0-9a-f]*|printer)(-\d+)?$"
)
# A phone or tablet its owner named: "Lucas-iPhone", "lucass-ipad", "Annas-Galaxy-S21".
PERSONAL_NAMES = re.compile(
    r"^(?!iphone|ipad|galaxy|pixel)[^\W\d_][\w’']*[-_ ](?:[\w’']+[-_ ])?(iphone|ipad|galaxy|pixel)\b"
)
# Facts that tie an address to a MAC: the packet said whose address it is.
BINDING_KEYS = ("mac", "hostname", "assigned_ip")
HOSTNAME_SOURCES = ("dhcp", "dhcpv6", "dns", "mdns", "nbns", "netbios", "llmnr", "lldp", "cdp", "smb", "ssdp")


@dataclass(slots=True)
class Profile:
    """What one device said: each (source, key, value) with when it was seen, at most
    MAX_VALUES values a (source, key) (Profiles.absorb fills it)."""

    facts: dict[tuple[str, str, Value], Seen] = field(default_factory=dict)
    per_key: dict[tuple[str, str], int] = field(default_factory=dict)


class Profiles:
    def __init__(self) -> None:
        self.by_ip: dict[int, Profile] = {}
        self.by_mac: dict[int, Profile] = {}
        self.bindings: dict[int, int] = {}  # ip -> MAC, from DHCP, NDP, mDNS, ARP, ...
        self.bound: dict[int, set[int]] = {}  # MAC -> its addresses, the reverse

    def absorb(self, facts: dict[Key, Seen], keep: Callable[[int], bool] = lambda ip: True) -> set[int]:
        """Take in a harvest's facts; returns the MACs heard from without an address.

        A fact new to its profile keeps the harvest's `Seen` (later harvests merge into
        it) rather than a copy: a harvest is absorbed once and dropped, and the copies
        were an object made per distinct fact (discovery's cost, issue 18).

        Facts about an address that `keep` refuses (one that can never be an
        inventoried device: external, excluded, non-inventoried) are dropped here,
        or the names DNS gives every server on the Internet would pile up all day.
        """
        touched: set[int] = set()
        kept: dict[int, bool] = {}  # `keep` asked once per address, not once per fact
        by_ip, by_mac = self.by_ip, self.by_mac
        for (ip, mac, source, key, value), seen in facts.items():
            if ip != NO_IP:
                ok = kept.get(ip)
                if ok is None:
                    ok = kept[ip] = keep(ip)
                if not ok:
                    continue
                profile = by_ip.get(ip)
                if profile is None:
                    profile = by_ip[ip] = Profile()
                if mac != NO_MAC and key in BINDING_KEYS:
                    self.bindings[ip] = mac
                    self.bound.setdefault(mac, set()).add(ip)
            elif mac != NO_MAC:
                profile = by_mac.get(mac)
                if profile is None:
                    profile = by_mac[mac] = Profile()
                touched.add(mac)
            else:
                continue
            # a fact into its profile, here rather than in a method: a call per fact of
            # every harvest (discovery's cost, issue 18); at most MAX_VALUES per key
            k = (source, key, value)
            have = profile.facts.get(k)
            if have is not None:
                have.merge(seen)
                continue
            count = profile.per_key.get((source, key), 0)
            if count < MAX_VALUES:
                profile.per_key[(source, key)] = count + 1
                profile.facts[k] = seen  # the harvest's own: a harvest is absorbed once, then dropped
        return touched

    def bind(self, pairs: list[tuple[int, int]], keep: Callable[[int], bool]) -> None:
        """(address, MAC) pairs the engine saw the MAC claim itself (ARP requests): bindings
        as DHCP's, but not facts, so no evidence entry per device (the engine sees every
        ARP request of the network; a fact costs a device's report some 60,000
        instructions, discovery's cost, issue 18). `keep` as in `absorb`."""
        bindings = self.bindings
        for ip, mac in pairs:
            if bindings.get(ip) != mac and keep(ip):  # a host asks all day: `keep` once
                bindings[ip] = mac
                self.bound.setdefault(mac, set()).add(ip)

    def same_devices(self) -> dict[int, int]:
        """MACs that are one device's interfaces or addresses: MAC -> the MAC that stands for them.

        A host announces its mDNS name on every interface it has, and mDNS keeps a
        name unique on its link (RFC 6762 §9): a Mac sharing its connection answers
        for `Lucas-iMac.local` from its Wi-Fi's MAC and from its bridge's. A phone
        that changes its private (locally administered) MAC keeps the name its owner
        gave it (`Lucas-iPhone`), which its DHCP requests carry: private MACs under one
        such personal name are one phone. Names every device of a kind carries
        (`raspberrypi`, `iPhone`, `Galaxy-S21`) merge nothing, as two such devices keep
        them. The universally administered MAC (the hardware's) stands for the others.
        """
        by_name: dict[str, set[int]] = {}

        def named(mac: int, source: str, value: Value) -> None:
            if not isinstance(value, str):
                return
            name = value.lower().rstrip(".")
            if source == "mdns" and not GENERIC_NAMES.match(name):
                by_name.setdefault(f"mdns:{name}", set()).add(mac)
            elif source in ("dhcp", "mdns") and mac & LOCAL_BIT and PERSONAL_NAMES.match(name):
                by_name.setdefault(f"personal:{name}", set()).add(mac)

        # Only a hostname calls `named`: a call per fact was most of this (twice a run,
        # over every profile's every fact; discovery's cost, issue 18).
        for ip, profile in self.by_ip.items():
            mac = self.bindings.get(ip)
            if mac is not None:
                for source, key, value in profile.facts:
                    if key == "hostname":
                        named(mac, source, value)
        for mac, profile in self.by_mac.items():
            for source, key, value in profile.facts:
                if key == "hostname":
                    named(mac, source, value)
        out: dict[int, int] = {}
        for macs in by_name.values():
            if len(macs) > 1:
                lead = min(macs, key=lambda m: (bool(m & LOCAL_BIT), m))
                lead = out.get(lead, lead)
                for m in macs:
                    if m != lead:
                        out[m] = lead
        return out

    def facts_of(self, ips: Iterable[int], macs: Iterable[int]) -> dict[tuple[str, str, Value], Seen]:
        """The facts of a device's addresses and MACs, to be read only: the profiles' own
        `Seen`, and a merged copy where two of them hold one fact."""
        out: dict[tuple[str, str, Value], Seen] = {}
        for table, keys in ((self.by_ip, ips), (self.by_mac, macs)):
            for k in keys:
                p = table.get(k)
                if p is None:
                    continue
                if not out:
                    out = dict(p.facts)  # the common case, one profile: a copy of its table
                    continue
                for fk, seen in p.facts.items():
                    have = out.get(fk)
                    if have is None:
                        out[fk] = seen
                    else:
                        merged = Seen(have.first, have.last, have.count)
                        merged.merge(seen)
                        out[fk] = merged
        return out


def fields(facts: dict[tuple[str, str, Value], Seen]) -> dict[str, Any]:
    """The report's discovery fields for one asset, from all its facts.

    Only names and services depend on the order facts were first seen in (the first
    spelling of a name, the first product of a port), so only they are sorted by it;
    the rest go to sets. No sort calls a function per fact (discovery's cost, issue 18)."""
    hostnames: dict[tuple[str, str], str] = {}
    sni: set[str] = set()
    client_fps: dict[str, set[str]] = {"ja3": set(), "ja4": set()}  # its TLS stacks
    agents: set[str] = set()
    services: dict[tuple[str, int], str] = {}
    ordered: list[tuple[float, tuple[str, str, Value]]] = []
    for fact, seen in facts.items():
        source, key, value = fact
        if key in ("hostname", "service"):
            ordered.append((seen.first, fact))
        elif source == "tls" and isinstance(value, str):
            if key == "sni":
                sni.add(value)
            elif key in client_fps:
                client_fps[key].add(value)
        elif source == "http" and key == "user_agent" and isinstance(value, str):
            agents.add(value)
    ordered.sort(key=itemgetter(0))  # stable: facts first seen at once stay in their order
    for _, (source, key, value) in ordered:
        if key == "hostname":
            if isinstance(value, str) and value:
                hostnames.setdefault((value.lower().rstrip("."), source), value.rstrip("."))
        elif isinstance(value, tuple) and len(value) == 3:
            proto, port, product = value
            k = (str(proto), int(port))
            if product or k not in services:
                services[k] = str(product)
    # By source, key and value's text; the index keeps equal texts in their order and
    # is never passed, so values and Seen are never compared.
    rows = sorted([(s, k, str(v), i, v, seen) for i, ((s, k, v), seen) in enumerate(facts.items())])
    return {
        "hostnames": [{"name": name, "source": source} for (_, source), name in sorted(hostnames.items())],
        "tls_sni": sorted(sni),
        "ja3": sorted(client_fps["ja3"]),
        "ja4": sorted(client_fps["ja4"]),
        "user_agents": sorted(agents),
        "services": [
            {"port": port, "proto": proto, "product": product or None}
            for (proto, port), product in sorted(services.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ],
        "evidence": [
            {"source": s, "key": k, "value": list(v) if isinstance(v, tuple) else v, "count": seen.count}
            for s, k, _, _, v, seen in rows
        ],
    }
