"""Device identity: which device each inventoried address belongs to, and the report's
entry for each device.

The contract: `Identity` reads the reporter's state it is given (the assets, the
discovery profiles, the classifier and the caches of predictions and of entries) and
changes none of it but those caches; `asset_dicts` turns assets into the report's
entries. An inventoried device is its MAC where the sensor sees one (so a laptop that changes
address through DHCP stays one asset, with its address history), else its address; a
MAC that carries many addresses at once, or addresses from outside, is a router's
and absorbs none of them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from nps_sensor.classify import (
    EXCLUDED,
    EXTERNAL,
    GROUP_ADDRESS,
    INVENTORIED,
    MONITORED,
    NON_INVENTORIED,
    Classifier,
    ip_text,
)
from nps_sensor.discovery.predict import predict
from nps_sensor.discovery.profile import Profiles, fields
from nps_sensor.hosts import NO_MAC
from nps_sensor.report.model import Asset, asset_dict, iso, mac_text, proto_name

# A device: ("mac", MAC) where the sensor sees its MAC, else ("ip", address).
DeviceKey = tuple[str, int]
Predictions = dict[DeviceKey, tuple[tuple[int, int | None, bool], dict[str, Any]]]


def asset_dicts(identity: Identity, assets: list[Asset], macs: set[int] | None = None) -> list[dict[str, Any]]:
    """Assets as the report shows them (counts since the start of the run): devices
    as `identity` sees them; external and excluded addresses merged into one asset
    each; only inventoried ones with attributes. Devices known only by their MAC come
    from `macs` (every one if None)."""
    out: list[dict[str, Any]] = []
    merged: dict[str, dict[str, Any]] = {}
    devices: dict[DeviceKey, None] = {}  # in order of first address
    for a in sorted(assets, key=lambda a: a.ip):
        if not a.sender:
            continue
        v = identity.classifier.verdict(a.ip, a.macs)
        if v.cls == GROUP_ADDRESS:
            continue
        if v.cls in (EXTERNAL, EXCLUDED):
            m = merged.get(v.group)
            if m is None:
                m = merged[v.group] = asset_dict(None, v.group, v.cls, v.group, a)
            else:
                m["packets"] += a.packets
                m["bytes_in"] += a.bytes_in
                m["bytes_out"] += a.bytes_out
                m["first_seen"] = min(m["first_seen"], iso(a.first) or m["first_seen"])
                m["last_seen"] = max(m["last_seen"], iso(a.last) or m["last_seen"])
                m["addresses"] += 1
            continue
        if v.cls != INVENTORIED:
            out.append(asset_dict(ip_text(a.ip), ip_text(a.ip), v.cls, v.group, a))
            continue
        devices[identity.of(a)] = None
    # A router's MAC is reported as the router it is, beside the devices behind it (and
    # once: with an address of its own it is among the devices already).
    routers = {
        ("mac", mac)
        for kind, ip in devices
        if kind == "ip" and (mac := identity.mac_of(identity.assets[ip])) in identity.routers
    }
    for key in [*devices, *identity.mac_only(set(devices), macs), *sorted(routers - devices.keys())]:
        out.append(identity.device(key))
    out.sort(key=lambda d: (d["ip"] is None, _ip_order(d["ip"]), d.get("id", "")))
    return out + [merged[k] for k in sorted(merged)]


def _ip_order(text: str | None) -> tuple[int, int]:
    if text is None:
        return (2, 0)
    addr = ipaddress.ip_address(text)
    return (addr.version, int(addr))


# A MAC with more IPv4 addresses active at once than this is a router's.
ROUTER_CONCURRENT_V4 = 2


class Identity:
    """Which device each inventoried address belongs to, for one report."""

    def __init__(
        self,
        assets: dict[int, Asset],
        profiles: Profiles,
        classifier: Classifier,
        predictions: Predictions,
        entries: dict[DeviceKey, dict[str, Any]] | None = None,
    ) -> None:
        self.assets = assets
        self.profiles = profiles
        self.classifier = classifier
        self.predictions = predictions  # kept across reports: a device without news is not predicted again
        # Entries made since the reporter last took anything in: the same state gives the
        # same entry (analyze's inventory repeats the last report's devices).
        self.entries: dict[DeviceKey, dict[str, Any]] = {} if entries is None else entries
        self.same = profiles.same_devices()  # MAC -> the MAC of the device it is an interface of
        self._own: dict[int, set[int]] = {}  # a router's MAC -> the addresses bound to it
        self.by_mac: dict[int, list[Asset]] = {}
        outside: set[int] = set()
        for a in assets.values():
            if not a.sender:
                continue
            v = classifier.verdict(a.ip, a.macs)
            mac = self.mac_of(a)
            if mac is None:
                continue
            if v.cls in (EXTERNAL, MONITORED, NON_INVENTORIED):
                outside.add(mac)
            elif v.cls == INVENTORIED:
                self.by_mac.setdefault(mac, []).append(a)
        self.routers = outside | {
            m for m, members in self.by_mac.items() if _concurrent([a for a in members if a.ip >> 32 == 0xFFFF])
        }

    def mac_of(self, a: Asset) -> int | None:
        mac = a.mac()
        if mac is None:
            mac = self.profiles.bindings.get(a.ip)
        return self.same.get(mac, mac) if mac is not None else None

    def interfaces(self, mac: int) -> list[int]:
        """The MACs of the device `mac` stands for (itself first)."""
        return [mac, *sorted(m for m, lead in self.same.items() if lead == mac)]

    def of(self, a: Asset) -> DeviceKey:
        mac = self.mac_of(a)
        if mac is not None and (mac not in self.routers or a.ip in self.own(mac)):
            return ("mac", mac)
        return ("ip", a.ip)

    def own(self, mac: int) -> set[int]:
        """The addresses a router's MAC claims as its own: ARP, NDP and DHCP bind them to
        it (the gateway's LAN address, a layer-3 switch's interfaces), and a link-local
        source is its own by rule (no router forwards fe80::/10 or 169.254/16: RFC 4291,
        RFC 3927). They are the router; the other addresses its MAC carries are devices
        behind it."""
        found = self._own.get(mac)
        if found is None:
            found = set().union(*(self.profiles.bound.get(m, set()) for m in self.interfaces(mac)))
            found |= {a.ip for a in self.by_mac.get(mac, []) if link_local(a.ip)}
            self._own[mac] = found
        return found

    def mac_only(self, known: set[DeviceKey], macs: set[int] | None) -> list[DeviceKey]:
        """MACs with discovery facts but no address of their own (a DHCP client that
        never got a lease, a switch that only speaks LLDP): devices all the same."""
        out = []
        for mac in sorted(self.profiles.by_mac if macs is None else macs):
            key = ("mac", mac)
            if key in known or mac in self.by_mac or mac in self.routers or mac in self.same:
                continue
            if mac in self.classifier.cfg.excluded_macs:
                continue
            out.append(key)
        return out

    def predicted(self, key: DeviceKey, facts: dict[Any, Any], mac: int | None, router: bool) -> dict[str, Any]:
        """`predict`, once per device and set of facts: a device reported in window
        after window without news is not predicted again."""
        cache = self.predictions
        version = (len(facts), mac, router)
        hit = cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        result = predict(facts, mac, router=router)
        cache[key] = (version, result)
        return result

    def device(self, key: DeviceKey) -> dict[str, Any]:
        """One device's report entry (a copy: each report owns its entries)."""
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = self._entry(key)
        return dict(entry)

    def _entry(self, key: DeviceKey) -> dict[str, Any]:
        """One device's report entry. A router's MAC (kind "mac", in `routers`) is an
        entry of its own that absorbs only the addresses bound to it, not the others it
        carries."""
        kind, value = key
        mac: int | None
        if kind == "mac":
            mac = value
            own = self.by_mac.get(mac, [])
            if mac in self.routers:
                mine = self.own(mac)
                own = [a for a in own if a.ip in mine]
            members = sorted(own, key=lambda a: (a.first, a.ip))
        else:
            members = [self.assets[value]]
            mac = self.mac_of(members[0])
        name = mac_text(value) if kind == "mac" else ip_text(value)
        if members:
            v4 = [a for a in members if a.ip >> 32 == 0xFFFF]
            primary = max(v4 or members, key=lambda a: (a.last, a.ip))
            v = self.classifier.verdict(primary.ip, primary.macs)
            d = asset_dict(ip_text(primary.ip), ip_text(primary.ip), v.cls, v.group, primary)
        else:
            primary = Asset(0)
            d = asset_dict(None, name, INVENTORIED, "", primary)
            d["group"] = None
        d["id"] = f"{kind}:{name}"
        d["ips"] = [{"ip": ip_text(a.ip), "first_seen": iso(a.first), "last_seen": iso(a.last)} for a in members]
        macs: set[int] = set()
        for a in members:
            if a is primary:
                continue
            d["packets"] += a.packets
            d["bytes_in"] += a.bytes_in
            d["bytes_out"] += a.bytes_out
        if members:
            d["first_seen"] = iso(min(a.first for a in members))
            d["last_seen"] = iso(max(a.last for a in members))
        for a in members:
            macs.update(m for m in a.macs if m != int(NO_MAC))
        if mac is not None:
            macs.add(mac)
        router = mac is not None and mac in self.routers  # behind it, or the router itself
        behind = router and kind == "ip"
        nics = [] if mac is None or behind else self.interfaces(mac)
        macs.update(nics)
        d["mac"] = None if mac is None else mac_text(mac)
        d["macs"] = sorted(mac_text(m) for m in macs)
        d["vlans"] = sorted({v for a in members for v in a.vlans})
        d["tunnel_ids"] = sorted({t for a in members for t in a.tunnels})
        ips = [a.ip for a in members]
        if mac is not None and not router:
            ips += sorted(set().union(*(self.profiles.bound.get(m, set()) for m in nics)) - set(ips))
        facts = self.profiles.facts_of(ips, nics)
        if not members:  # known by its MAC alone: seen when it spoke (LLDP, CDP) or carried others' packets (a router)
            carried = self.by_mac.get(value, [])
            spans = [(s.first, s.last) for s in facts.values()] + [(a.first, a.last) for a in carried]
            if spans:
                d["first_seen"] = iso(min(first for first, _ in spans))
                d["last_seen"] = iso(max(last for _, last in spans))
        d.update(fields(facts))
        _add_served(d["services"], members)
        d.update(self.predicted(key, facts, None if behind else mac, router and kind == "mac"))
        if behind:
            d["behind_router"] = True  # the MAC is the router's, not this device's
        return d


def _add_served(services: list[dict[str, Any]], members: list[Asset]) -> None:
    """Ports the device answered on, beside those a dissector named a product for."""
    known = {(s["proto"], s["port"]) for s in services}
    for proto, port in sorted({x for a in members for x in a.served}, key=lambda x: (x[1], x[0])):
        name = proto_name(proto)
        if (name, port) not in known:
            known.add((name, port))
            services.append({"port": port, "proto": name, "product": None})
    services.sort(key=lambda s: (s["port"], s["proto"]))


def link_local(ip: int) -> bool:
    """fe80::/10, or 169.254/16 (IPv4 as the engine keeps it: mapped into IPv6)."""
    if ip >> 32 == 0xFFFF:
        return (ip & 0xFFFFFFFF) >> 16 == 0xA9FE
    return ip >> 118 == 0x3FA


def _concurrent(members: list[Asset]) -> bool:
    """More than ROUTER_CONCURRENT_V4 of these addresses active at one time?"""
    if len(members) <= ROUTER_CONCURRENT_V4:
        return False
    events = sorted([(a.first, 1) for a in members] + [(a.last, -1) for a in members], key=lambda e: (e[0], -e[1]))
    active = 0
    for _, step in events:
        active += step
        if active > ROUTER_CONCURRENT_V4:
            return True
    return False
