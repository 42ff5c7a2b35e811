"""Which class an IP address belongs to, and what the traffic report calls it.

Precedence, first match wins:

1. **excluded**: the address is in `excluded.ips`, or a packet from it carried a MAC
   in `excluded.macs`. Shown as `Excluded`; never inventoried.
2. **internal**: the most specific internal range that holds the address decides its
   group (fewest addresses; on a tie, the group listed first). The group's
   `inventory` flag makes it `inventoried` or `non-inventoried`.
3. **monitored**: the address is a `monitor_external` target, directly or through a
   DNS answer for a target domain seen on the wire. Shown under the target's name.
4. **external**: everything else, shown as the one asset `External`.

Multicast, broadcast and unspecified addresses are not devices: they keep their
own address in the traffic report and get no asset.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from nps_sensor.config import V4_MAPPED, Config

INVENTORIED = "inventoried"
NON_INVENTORIED = "non-inventoried"
EXTERNAL = "external"
EXCLUDED = "excluded"
MONITORED = "monitored"
GROUP_ADDRESS = "group"  # multicast / broadcast / unspecified: a flow endpoint only


@dataclass(frozen=True, slots=True)
class Verdict:
    cls: str
    group: str  # internal group or monitor name; "External" / "Excluded" otherwise


EXTERNAL_VERDICT = Verdict(EXTERNAL, "External")
EXCLUDED_VERDICT = Verdict(EXCLUDED, "Excluded")


@lru_cache(maxsize=1 << 16)
def ip_text(ip: int) -> str:
    if ip >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(ip & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(ip))


def is_group(ip: int) -> bool:
    if ip >> 32 == 0xFFFF:
        v4 = ip & 0xFFFFFFFF
        return v4 >> 28 == 14 or v4 in {4294967295, 0}
    return ip >> 120 == 0xFF or ip == 0


class Classifier:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._cache: dict[int, Verdict] = {}
        # Internal ranges, most specific first; the sort is stable, so on a tie the
        # group listed first stays first.
        self._internal = sorted(
            ((r, g) for g in cfg.internal for r in g.ranges),
            key=lambda rg: rg[0].size,
        )
        self._monitor_ranges = [(r, m.name) for m in cfg.monitor for r in m.ranges]
        self._domains = [(d, m.name) for m in cfg.monitor for d in m.domains]
        self._resolved: dict[int, str] = {}  # address -> monitor name, from DNS answers

    def learn_dns(self, names: Iterable[str], addresses: Iterable[int]) -> None:
        """A DNS answer: if one of its names (query or CNAME) is a target, so are its addresses."""
        if not self._domains:
            return
        target = None
        for raw in names:
            name = raw.lower().rstrip(".")
            for domain, monitor in self._domains:
                if name == domain or (domain.startswith("*.") and name.endswith(domain[1:])):
                    target = monitor
                    break
            if target:
                break
        if target:
            for ip in addresses:
                if self._resolved.get(ip) != target:
                    self._resolved[ip] = target
                    self._cache.pop(ip, None)

    def verdict(self, ip: int, macs: Iterable[int] = ()) -> Verdict:
        """The class of `ip`; `macs` are the source MACs seen with it (for excluded MACs)."""
        if self.cfg.excluded_macs and not self.cfg.excluded_macs.isdisjoint(macs):
            return EXCLUDED_VERDICT
        v = self._cache.get(ip)
        if v is None:
            v = self._cache[ip] = self._by_address(ip)
        return v

    def _by_address(self, ip: int) -> Verdict:
        if is_group(ip):
            return Verdict(GROUP_ADDRESS, ip_text(ip))
        if any(ip in r for r in self.cfg.excluded):
            return EXCLUDED_VERDICT
        for r, g in self._internal:
            if ip in r:
                return Verdict(INVENTORIED if g.inventory else NON_INVENTORIED, g.name)
        for r, name in self._monitor_ranges:
            if ip in r:
                return Verdict(MONITORED, name)
        resolved = self._resolved.get(ip)
        if resolved is not None:
            return Verdict(MONITORED, resolved)
        return EXTERNAL_VERDICT

    def label(self, ip: int, macs: Iterable[int] = ()) -> str:
        """What the traffic report shows for an endpoint."""
        v = self.verdict(ip, macs)
        if v.cls in (INVENTORIED, NON_INVENTORIED, GROUP_ADDRESS):
            return ip_text(ip)
        return v.group


__all__ = [
    "EXCLUDED",
    "EXTERNAL",
    "GROUP_ADDRESS",
    "INVENTORIED",
    "MONITORED",
    "NON_INVENTORIED",
    "V4_MAPPED",
    "Classifier",
    "Verdict",
    "ip_text",
]
