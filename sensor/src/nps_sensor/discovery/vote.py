"""Voting: claims from many sources made into one answer, its confidence and its rivals.

Each source (a fact kind: `dhcp.prl`, `http.user_agent`, `tcp.syn`, ...) counts once,
with its strongest claim, so that a device sending a hundred User-Agents does not
outvote its NTLM version; kinds that are one source (a host's SYN and SYN+ACK are one
TCP stack, a name said by DHCP and by mDNS is one name) are grouped. Labels nest
(Linux evidence supports Android, "network device" supports "switch"): the winner is
the most specific label with the largest support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nps_sensor.discovery.fingerprints.claims import lineage

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
LOOSE_TYPES = frozenset({"virtual machine"})
CONFLICT_SHARE = 0.3  # an incompatible candidate with at least this share of the winner's score is a conflict
MEMO_MAX = 10_000  # distinct votes remembered (then forgotten all at once)


@dataclass(frozen=True, slots=True)
class Vote:
    label: str
    score: float
    confidence: float
    conflict: bool
    candidates: tuple[tuple[str, float], ...]


# Votes already counted: many devices put the same claims to the vote (every camera of
# a model, every Windows workstation), and a vote is a function of its items alone.
# Keyed by the items, `parents`' identity and `loose`; `parents` is kept beside the
# result so that its identity stays its own.
_memo: dict[tuple[Any, ...], tuple[object, Any]] = {}


def _remembered(key: tuple[Any, ...], parents: object, count: Any, *args: Any) -> Any:
    hit = _memo.get(key)
    if hit is not None and hit[0] is parents:
        return hit[1]
    out = count(*args)
    if len(_memo) >= MEMO_MAX:
        _memo.clear()
    _memo[key] = (parents, out)
    return out


def vote(
    items: list[tuple[str, float, str]], parents: dict[str, str], loose: frozenset[str] = frozenset()
) -> Vote | None:
    """items: (source, weight, label). Each source counts once per label, with its best weight.

    A `loose` label ("virtual machine") says how a device exists, not what it does: it
    agrees with every sibling ("server", "workstation") and loses ties to them. The
    same items give the same vote, counted once (`_memo`: discovery's cost, issue 18).
    """
    if not items:
        return None
    result: Vote | None = _remembered(("vote", tuple(items), id(parents), loose), parents, _vote, items, parents, loose)
    return result


def _vote(items: list[tuple[str, float, str]], parents: dict[str, str], loose: frozenset[str]) -> Vote | None:
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
    return Vote(winner, scores[winner], round(confidence, 2), conflict, tuple(ranked))


def pick(items: list[tuple[str, float, str]]) -> str | None:
    """The label with the largest sum of per-source best weights (each items' once: `_memo`)."""
    if not items:
        return None
    result: str | None = _remembered(("pick", tuple(items)), None, _pick, items)
    return result


def _pick(items: list[tuple[str, float, str]]) -> str | None:
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
