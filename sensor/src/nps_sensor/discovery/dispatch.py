"""Which packets of a batch go to which dissector: chosen by the core, dispatched here.

The packet core (sensor/csrc/select.c) reads a few header fields of every packet and
keeps only those a dissector can learn from, by the tables the protocols' declarations
make (`registry.selection`):

* UDP and TCP by port, then only the messages that can name a device (a protocol's
  `naming` signature: DNS-like answers, not queries; SMB negotiate and session setup,
  not file transfers; QUIC client Initials);
* TCP by the first payload bytes, whatever the port (an HTTP method or status line,
  a TLS handshake record, an SSH banner);
* TCP SYN and SYN+ACK, a sender's first of each in a window, for OS fingerprints;
* the segments that continue a ClientHello cut by its first segment's end, found by
  their sequence number, while such a hello is pending (`tls.Hellos`);
* ICMPv6 router and neighbour discovery;
* link-layer frames by EtherType (LLDP) or SNAP header (CDP).

Everything else, the bulk of a network's packets, costs those few reads in C. The
chosen packets come back as tuples, and `Discoverer.dispatch` hands them to their
dissectors one by one, a message repeated by its sender within a harvest only once
(found by the core where it can, `Discoverer.core_limit`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from nps_sensor.config import Config
from nps_sensor.discovery import registry
from nps_sensor.discovery.dissectors.tls import Hellos
from nps_sensor.discovery.facts import Facts
from nps_sensor.discovery.packet import RECENT_MAX, Malformed, Packet
from nps_sensor.discovery.protocol import Stateful
from nps_sensor.discovery.registry import TABLES, Tables
from nps_sensor.stats import Stats

# What the core hands over for each chosen packet (sensor/csrc/results.c, picks_list).
Pick = tuple[int, float, int, int, int, int, int, int, int, bytes, int, int]


def selection() -> dict[str, Any]:
    """The tables the packet core chooses packets by, from the protocols' declarations."""
    return registry.core_selection()


class Discoverer:
    """Runs the dissectors on the packets the core chose; facts accumulate in `facts`.

    One per collector. The protocols that keep state across packets (TLS hellos over
    several segments, QUIC Initials over several datagrams) keep it here, and
    `facts.recent` remembers the messages read since the last harvest.
    """

    def __init__(
        self,
        stats: Stats,
        cfg: Config | None = None,
        tables: Tables = TABLES,
        core: tuple[int, dict[str, Any]] | None = None,
    ) -> None:
        self.stats = stats
        self.facts = Facts()
        self.tables = tables
        # `core`: the picks come from the packet core, whose set of this window's
        # messages holds that many keys, and the selection it was given. The core drops
        # the repeats of HTTP and of UDP protocols whose repeat is a Payload itself
        # (sensor/csrc/select.c), by the same key, and adds a key only for a message it
        # then picks: while a window's picks number at most the set's size, it refused
        # none, and checking those protocols' repeats again here would find none
        # (discovery's cost, issue 18: some 20 M instructions on 1 M packets). Then
        # `after_core` is the repeats to check.
        self.core_limit = core[0] if core is not None else None
        by_core: set[int] = set()
        if core is not None:
            sel = core[1]
            spans = sel.get("repeats", {})  # the core reads them in UDP datagrams alone
            by_core = {i for i in spans if spans[i] and not tables.protocols[i].tcp and not tables.protocols[i].magic}
            if sel.get("ids", {}).get("http"):
                by_core.add(sel["ids"]["http"])
        self.after_core = tuple(None if i in by_core else r for i, r in enumerate(tables.repeats))
        self.parsers: list[Callable[[Packet], None]] = []  # by protocol id
        self.states: dict[str, Stateful] = {}  # by protocol name
        for protocol in tables.protocols:
            if protocol.state is not None:
                state = self.states[protocol.name] = protocol.state()
                self.parsers.append(state.dissect)
            else:
                self.parsers.append(protocol.parser())
        hellos = self.states.get("tls")
        self.hellos = hellos if isinstance(hellos, Hellos) else None  # ClientHellos waiting for their next segment
        self.error_names = [f"malformed-{p.name}" for p in tables.protocols]
        if cfg is not None:
            self.reconfigure(cfg)

    def reconfigure(self, cfg: Config) -> None:
        """Keep facts about others (DNS answers) only for inventoried ranges."""
        ranges = tuple((r.start, r.end) for g in cfg.internal if g.inventory for r in g.ranges)

        def wanted(ip: int) -> bool:
            # a loop, not any() over a generator: asked for every address a DNS answer
            # names, thousands a run (discovery's cost, issue 18)
            for start, end in ranges:  # noqa: SIM110 (any() over a generator is what this avoids)
                if start <= ip <= end:
                    return True
            return False

        self.facts.wanted = wanted

    def pending_hellos(self, now: float, cut: bool) -> list[int] | None:
        """For the core: the sequence numbers that would continue a pending ClientHello
        (None when no hello is pending and the batch cut none)."""
        if self.hellos is None or (not cut and not self.hellos.pending):
            return None
        return self.hellos.expected(now)

    def dispatch(self, picks: list[Pick]) -> None:
        """The chosen packets to their dissectors, but messages this sender already sent
        in this window (a protocol's `repeat`)."""
        facts = self.facts
        recent = facts.recent
        errors = self.stats.decode_errors
        parsers = self.parsers
        repeats = self.tables.repeats
        if self.core_limit is not None:
            facts.picked += len(picks)
            if facts.picked <= self.core_limit:
                repeats = self.after_core
        names = self.error_names
        for i, t, src, dst, sm, dm, proto, sport, dport, data, l4, body in picks:
            content = repeats[i]
            if content is not None:
                key = (i, src, sm, content(data, l4, body))
                if key in recent:
                    continue
                if len(recent) < RECENT_MAX:
                    recent.add(key)
            p = Packet(t, src, dst, sm, dm, proto, sport, dport, data, l4, body, 0, facts)
            try:
                parsers[i](p)
            except (Malformed, IndexError, ValueError, struct.error, UnicodeError, OverflowError):
                errors[names[i]] += 1
