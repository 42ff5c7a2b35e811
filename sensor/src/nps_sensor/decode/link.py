"""Link layers: capture link types, Ethernet, 802.1Q/802.1ad tags, MPLS, PPPoE."""

from __future__ import annotations

import numpy as np

from nps_sensor.decode.frames import ETHER, IP_ANY, IPV4, IPV6, L2, LLC, Decoded, Sel, sub

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_SLL2 = 276
# DLT_RAW's number differs between systems; files written on them may carry it.
RAW_ALIASES = (12, 14)

KNOWN_LINKTYPES = (
    LINKTYPE_NULL,
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    LINKTYPE_LOOP,
    LINKTYPE_SLL,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_SLL2,
    *RAW_ALIASES,
)

VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)
MPLS_TYPES = (0x8847, 0x8848)
PPPOE_SESSION = 0x8864


def start(d: Decoded) -> None:
    """Set the first header of every frame from its capture link type."""
    lt = d.batch.linktype
    if (lt == LINKTYPE_ETHERNET).all():
        pass  # `et` starts as ETHER
    else:
        _start_mixed(d, lt)
    tci = d.batch.vlan_tci
    if tci is not None:
        tagged = np.flatnonzero(tci >= 0)
        if len(tagged):
            d.vlan_outer[tagged] = tci[tagged] & 0xFFF
            d.mark(tagged, "vlan")


def _start_mixed(d: Decoded, lt: np.ndarray) -> None:
    raw = np.flatnonzero(np.isin(lt, (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, *RAW_ALIASES)))
    d.et[raw] = IP_ANY
    d.mark(raw, "raw_ip")
    loop = np.flatnonzero((lt == LINKTYPE_NULL) | (lt == LINKTYPE_LOOP))
    loop = d.need(loop, 4, "truncated-link-header")
    d.p[loop] += 4
    d.et[loop] = IP_ANY
    sll = d.need(np.flatnonzero(lt == LINKTYPE_SLL), 16, "truncated-link-header")
    if len(sll):
        at = d.p[sll]
        halen = d.be16(sll, at + 4)
        d.mac_at[sll[halen == 6]] = at[halen == 6] + 6
        _set_protocol(d, sll, d.be16(sll, at + 14).astype(np.int64))
        d.p[sll] += 16
        d.mark(sll, "sll")
    sll2 = d.need(np.flatnonzero(lt == LINKTYPE_SLL2), 20, "truncated-link-header")
    if len(sll2):
        at = d.p[sll2]
        halen = d.u8(sll2, at + 11)
        d.mac_at[sll2[halen == 6]] = at[halen == 6] + 12
        _set_protocol(d, sll2, d.be16(sll2, at).astype(np.int64))
        d.p[sll2] += 20
        d.mark(sll2, "sll")
    d.fail(np.flatnonzero(~np.isin(lt, KNOWN_LINKTYPES)), "unknown-linktype")


def _set_protocol(d: Decoded, idx: np.ndarray, proto: np.ndarray) -> None:
    # Cooked captures carry an EtherType, or small values for 802.2/802.3 payloads.
    d.et[idx] = np.where(proto >= 0x0600, proto, LLC)


def ethernet(d: Decoded, idx: Sel) -> None:
    idx = d.need(idx, 14, "truncated-ethernet")
    at = d.p[idx]
    d.mac_at[idx] = at + 6
    d.tags[idx] = 0
    et = d.be16(idx, at + 12).astype(np.int64)
    d.et[idx] = np.where(et >= 0x0600, et, LLC)
    d.p[idx] = at + 14


def vlan(d: Decoded, idx: Sel) -> None:
    idx = d.need(idx, 4, "truncated-vlan")
    at = d.p[idx]
    vid = (d.be16(idx, at) & 0xFFF).astype(np.int32)
    # The first tag of a frame is its VLAN (it overrides the VLAN an ERSPAN header
    # reported, which is the same one); further tags are the customer VLANs of QinQ.
    first = d.tags[idx] == 0
    d.vlan_outer[sub(idx, first)] = vid[first]
    d.vlan_inner[sub(idx, ~first)] = vid[~first]
    d.tags[idx] += 1
    d.mark(sub(idx, first), "vlan")
    d.mark(sub(idx, ~first), "qinq")
    et = d.be16(idx, at + 2).astype(np.int64)
    d.et[idx] = np.where(et >= 0x0600, et, LLC)
    d.p[idx] = at + 4


def mpls(d: Decoded, idx: Sel) -> None:
    """One label per pass; below the bottom label, the payload is guessed as Wireshark does."""
    idx = d.need(idx, 4, "truncated-mpls")
    d.mark(idx, "mpls")
    at = d.p[idx]
    bottom = (d.u8(idx, at + 2) & 1).astype(bool)
    d.p[idx] = at + 4
    last = d.need(sub(idx, bottom), 1, "truncated-mpls")
    nibble = d.u8(last, d.p[last]) >> 4
    # 4/6: IP; 0: a pseudowire control word, then Ethernet; anything else: Ethernet.
    d.et[last] = np.where((nibble == 4) | (nibble == 6), IP_ANY, ETHER)
    d.p[sub(last, nibble == 0)] += 4


def pppoe(d: Decoded, idx: Sel) -> None:
    idx = d.need(idx, 8, "truncated-pppoe")
    d.mark(idx, "pppoe")
    at = d.p[idx]
    ppp = d.be16(idx, at + 6).astype(np.int64)
    d.p[idx] = at + 8
    ip4 = ppp == 0x0021
    ip6 = ppp == 0x0057
    d.et[idx] = np.where(ip4, IPV4, IPV6)
    d.state[sub(idx, ~(ip4 | ip6))] = L2  # PPP control traffic
