"""Facts: what one packet proved about one device, deduplicated until harvested.

A fact is (ip, mac, source, key, value): `ip` and `mac` say which device it is about
(-1 where the packet does not tell), `source` names the protocol that said it
(`dhcp`, `mdns`, `lldp`, ...) and `key`/`value` what it said. Values are strings or
tuples of strings and integers, so that facts hash, compare and pickle cheaply.
The same fact seen a thousand times in a window is kept once, with its first and
last time and a count: a chatty device costs memory per distinct fact, not per packet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

Value: TypeAlias = str | tuple[str | int, ...]
Key: TypeAlias = tuple[int, int, str, str, Value]  # ip, mac, source, key, value

NO_IP = -1
NO_MAC = -1


@dataclass(slots=True)
class Seen:
    first: float
    last: float
    count: int = 1

    def merge(self, other: Seen) -> None:
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.count += other.count


class Facts:
    """Facts gathered since the last `drain`: `Packet.fact` is the one way in (it counts
    a fact seen again, and one over `limit` as overflow)."""

    __slots__ = ("items", "limit", "overflow", "picked", "recent", "wanted")

    def __init__(self, limit: int = 200_000) -> None:
        self.items: dict[Key, Seen] = {}
        self.limit = limit  # distinct facts held between two harvests
        self.overflow = 0  # facts not kept because the limit was reached
        # Messages already dissected since the last harvest (see Packet.once): a
        # resolver answering the same question all day is parsed once per window.
        self.recent: set[object] = set()
        self.picked = 0  # packets the core picked since the last drain (`Discoverer.core_limit`)
        # Addresses facts *about others* are worth keeping for (the inventoried ranges):
        # a DNS answer names Internet servers by the thousand, none of them an asset.
        self.wanted: Callable[[int], bool] = lambda ip: True

    def __len__(self) -> int:
        return len(self.items)

    def drain(self) -> dict[Key, Seen]:
        items, self.items = self.items, {}
        self.recent.clear()
        self.picked = 0
        return items

    @staticmethod
    def merge(parts: list[dict[Key, Seen]], sampled: frozenset[tuple[str, str]] = frozenset()) -> dict[Key, Seen]:
        """Several collectors' facts as one collector would have them. A fact kind in
        `sampled` is taken once per sender and window by each collector (a sender's
        first SYN): of the several, the earliest is what one collector would have read."""
        if len(parts) == 1:
            return parts[0]
        out: dict[Key, Seen] = {}
        first: dict[tuple[int, str, str], Key] = {}
        for part in parts:
            for k, seen in part.items():
                if (k[2], k[3]) in sampled:
                    _keep_earliest(out, first, k, seen)
                    continue
                have = out.get(k)
                if have is None:
                    out[k] = seen
                else:
                    have.merge(seen)
        return out


def _keep_earliest(out: dict[Key, Seen], first: dict[tuple[int, str, str], Key], k: Key, seen: Seen) -> None:
    sender = (k[0], k[2], k[3])
    held = first.get(sender)
    if held is not None:
        if (out[held].first, str(held[4])) <= (seen.first, str(k[4])):
            return
        del out[held]
    first[sender] = k
    out[k] = seen
