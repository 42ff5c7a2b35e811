/* Decapsulation: one frame from its link-layer header down to its innermost IP header.
 *
 * Ethernet, 802.1Q/802.1ad/QinQ tags, MPLS label stacks (with a pseudowire control
 * word), PPPoE, Linux cooked (SLL, SLL2), raw IP and BSD loopback; IPv4 and IPv6 with
 * its extension headers; and the tunnels that carry mirrored traffic, nested in any
 * order: GRE (with IP, MPLS or Ethernet inside), ERSPAN I/II/III, VXLAN (UDP 4789),
 * VXLAN-GPE (4790), Geneve (6081), IP-in-IP, and the tunnels that carry hosts'
 * traffic: GTP-U (UDP 2152, a mobile network's user plane) and Teredo (UDP 3544,
 * IPv6 in UDP). A frame stops at an IP header that
 * carries no tunnel (ST_IP), at a payload the sensor does not decode (ST_L2), or at
 * something it cannot parse (ST_ERROR with a reason). At most MAX_TUNNELS tunnels and
 * MAX_LAYERS headers: deeper nesting is crafted or broken input, counted, not guessed.
 *
 * The VLAN tags of a tunnel's transport network are forgotten at the tunnel; the
 * tunnel's id (ERSPAN session, VNI) is the innermost one's. Every read goes through
 * the frame's bounds (see core.h).
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

const char *const ENCAP_NAMES[N_ENCAPS] = {
    "vlan", "qinq", "mpls", "pppoe", "gre", "erspan_i", "erspan_ii", "erspan_iii", "gre_teb",
    "vxlan", "vxlan_gpe", "geneve", "ip_in_ip", "ipv6", "fragment", "sll", "raw_ip", "gtp_u", "teredo",
};
const char *const REASON_NAMES[N_REASONS] = {
    "unknown-linktype", "truncated-link-header", "truncated-ethernet", "truncated-vlan",
    "truncated-mpls", "truncated-pppoe", "truncated-ipv4", "bad-ipv4-header", "bad-ipv4-length",
    "truncated-ipv6", "bad-ip-version", "truncated-ipv6-extension", "truncated-gre",
    "truncated-erspan", "truncated-vxlan", "truncated-geneve", "too-many-layers", "too-many-tunnels",
    "truncated-gtp",
};

enum {
    LT_NULL = 0, LT_ETHERNET = 1, LT_RAW = 101, LT_LOOP = 108, LT_SLL = 113, LT_IPV4 = 228,
    LT_IPV6 = 229, LT_SLL2 = 276, LT_RAW_ALIAS1 = 12, LT_RAW_ALIAS2 = 14,
};
enum { GRE = 47, IPIP = 4, IPV6_IN_IP = 41, TCP = 6, UDP = 17, DCCP = 33, SCTP = 132, UDPLITE = 136 };
enum { ICMP = 1, ICMPV6 = 58 };
enum { VXLAN_PORT = 4789, VXLAN_GPE_PORT = 4790, GENEVE_PORT = 6081, GTPU_PORT = 2152, TEREDO_PORT = 3544 };
enum { GTP_EXTENSIONS = 8, GTP_G_PDU = 0xFF };
#define GRE_C 0x8000u
#define GRE_R 0x4000u
#define GRE_K 0x2000u
#define GRE_S 0x1000u
#define ERSPAN_I_II 0x88BEu
#define ERSPAN_III 0x22EBu
#define TEB 0x6558u
#define MPLS_UNICAST 0x8847u
#define V4_MAPPED 0xFFFF00000000ull

/* ---- reads inside the frame (core.h) ----------------------------------------------- */

#define U8(at) nps_u8(d, (at))
#define BE16(at) nps_be16(d, (at))
#define BE32(at) nps_be32(d, (at))
#define BE64(at) nps_be64(d, (at))

static inline void fail(nps_pkt *d, int reason) {
    d->state = ST_ERROR;
    d->err = (int8_t)reason;
}
/* Whether `n` bytes are there at p; if not, the frame fails with `reason`. */
static inline bool need(nps_pkt *d, int64_t n, int reason) {
    if (d->p + n <= d->end) return true;
    fail(d, reason);
    return false;
}
/* Whether the frame reaches `at` (exclusive); if not, it fails with `reason`. */
static inline bool need_at(nps_pkt *d, int64_t at, int reason) {
    if (at <= d->end) return true;
    fail(d, reason);
    return false;
}
static inline void mark(nps_pkt *d, int e) { d->encap |= 1u << e; }
static inline uint32_t ethertype(uint32_t et) { return et >= 0x0600 ? et : K_LLC; }

/* ---- link layers ------------------------------------------------------------------ */

static void start(nps_pkt *d, uint32_t lt) {
    switch (lt) {
    case LT_ETHERNET:
        d->et = K_ETHER;
        return;
    case LT_RAW: case LT_IPV4: case LT_IPV6: case LT_RAW_ALIAS1: case LT_RAW_ALIAS2:
        d->et = K_IP_ANY;
        mark(d, E_RAW_IP);
        return;
    case LT_NULL: case LT_LOOP:
        if (!need(d, 4, R_TRUNC_LINK)) return;
        d->p += 4;
        d->et = K_IP_ANY;
        return;
    case LT_SLL:
        if (!need(d, 16, R_TRUNC_LINK)) return;
        if (BE16(d->p + 4) == 6) d->mac_at = d->p + 6;
        d->et = ethertype(BE16(d->p + 14));
        d->p += 16;
        mark(d, E_SLL);
        return;
    case LT_SLL2:
        if (!need(d, 20, R_TRUNC_LINK)) return;
        if (U8(d->p + 11) == 6) d->mac_at = d->p + 12;
        d->et = ethertype(BE16(d->p));
        d->p += 20;
        mark(d, E_SLL);
        return;
    default:
        fail(d, R_UNKNOWN_LINKTYPE);
    }
}

static void ethernet(nps_pkt *d) {
    if (!need(d, 14, R_TRUNC_ETHERNET)) return;
    d->mac_at = d->p + 6;
    d->ether_mac = true;
    d->tags = 0;
    d->et = ethertype(BE16(d->p + 12));
    d->p += 14;
}

static void vlan(nps_pkt *d) {
    if (!need(d, 4, R_TRUNC_VLAN)) return;
    int32_t vid = BE16(d->p) & 0xFFF;
    /* The first tag is the frame's VLAN (over the one an ERSPAN header named, which is
     * the same); further tags are QinQ's customer VLANs. */
    if (d->tags == 0) {
        d->vlan_outer = vid;
        mark(d, E_VLAN);
    } else {
        d->vlan_inner = vid;
        mark(d, E_QINQ);
    }
    d->tags++;
    d->et = ethertype(BE16(d->p + 2));
    d->p += 4;
}

static void mpls(nps_pkt *d) {
    if (!need(d, 4, R_TRUNC_MPLS)) return;
    mark(d, E_MPLS);
    bool bottom = U8(d->p + 2) & 1;
    d->p += 4;
    if (!bottom) return; /* the next label */
    if (!need(d, 1, R_TRUNC_MPLS)) return;
    /* Below the bottom label, guessed as Wireshark does: 4/6 IP, 0 a pseudowire
     * control word then Ethernet, anything else Ethernet. */
    unsigned nibble = U8(d->p) >> 4;
    d->et = (nibble == 4 || nibble == 6) ? K_IP_ANY : K_ETHER;
    if (nibble == 0) d->p += 4;
}

static void pppoe(nps_pkt *d) {
    if (!need(d, 8, R_TRUNC_PPPOE)) return;
    mark(d, E_PPPOE);
    uint16_t ppp = BE16(d->p + 6);
    d->p += 8;
    d->et = ppp == 0x0021 ? ET_IPV4 : ET_IPV6;
    if (ppp != 0x0021 && ppp != 0x0057) d->state = ST_L2; /* PPP control traffic */
}

static void ip_any(nps_pkt *d) {
    if (!need(d, 1, R_TRUNC_IPV4)) return;
    unsigned version = U8(d->p) >> 4;
    d->et = version == 4 ? ET_IPV4 : ET_IPV6;
    if (version != 4 && version != 6) fail(d, R_BAD_IP_VERSION);
}

/* ---- IP ---------------------------------------------------------------------------- */

static bool ipv4(nps_pkt *d, int64_t wirelen) {
    if (!need(d, 20, R_TRUNC_IPV4)) return false;
    int64_t at = d->p;
    uint64_t w0 = BE64(at); /* version, IHL, TOS, total length, id, flags, fragment offset */
    int64_t ihl = (int64_t)((w0 >> 56) & 0xF) * 4;
    if ((w0 >> 60) != 4 || ihl < 20) {
        fail(d, R_BAD_IPV4_HEADER);
        return false;
    }
    if (at + ihl > d->end) {
        fail(d, R_TRUNC_IPV4);
        return false;
    }
    int64_t total = (int64_t)((w0 >> 32) & 0xFFFF);
    /* Segmentation offload leaves a zero total length in captures taken on the sending
     * host: the frame's length stands in for it, as in Wireshark. */
    if (total == 0) total = wirelen - (at - d->start);
    if (total < ihl) {
        fail(d, R_BAD_IPV4_LENGTH);
        return false;
    }
    uint64_t w1 = BE64(at + 8); /* TTL, protocol, checksum, source */
    unsigned fragment = w0 & 0x3FFF; /* MF flag and offset */
    d->l3 = at;
    d->head = w0;
    d->ipver = 4;
    d->src_hi = 0;
    d->src_lo = (w1 & 0xFFFFFFFFull) | V4_MAPPED;
    d->dst_hi = 0;
    d->dst_lo = (uint64_t)BE32(at + 16) | V4_MAPPED;
    d->proto = (uint8_t)(w1 >> 48);
    d->iplen = total;
    d->l4 = d->p = at + ihl;
    d->state = ST_IP;
    d->fraghdr = 0;
    d->ipid = (uint32_t)((w0 >> 16) & 0xFFFF);
    d->frag = fragment == 0 ? 0 : ((fragment & 0x1FFF) == 0 ? 1 : 2);
    if (fragment) mark(d, E_FRAGMENT);
    return true;
}

enum { HOPOPT = 0, ROUTING = 43, FRAGMENT = 44, AH = 51, DSTOPTS = 60, MOBILITY = 135, HIP = 139, SHIM6 = 140 };
static inline bool is_extension(unsigned nh) {
    return nh == HOPOPT || nh == ROUTING || nh == FRAGMENT || nh == AH || nh == DSTOPTS || nh == MOBILITY ||
           nh == HIP || nh == SHIM6;
}

static bool ipv6(nps_pkt *d, int64_t wirelen) {
    if (!need(d, 40, R_TRUNC_IPV6)) return false;
    int64_t at = d->p;
    uint64_t w0 = BE64(at); /* version, class, flow label, payload length, next header, hop limit */
    if ((w0 >> 60) != 6) {
        fail(d, R_BAD_IP_VERSION);
        return false;
    }
    mark(d, E_IPV6);
    int64_t payload = (int64_t)((w0 >> 16) & 0xFFFF);
    if (payload == 0) { /* a jumbogram or segmentation offload: the frame tells the length */
        payload = wirelen - (at - d->start) - 40;
        if (payload < 0) payload = 0;
    }
    d->l3 = at;
    d->head = w0 & ~0xFFull; /* the hop limit changes on the way; the packet does not */
    d->ipver = 6;
    d->src_hi = BE64(at + 8);
    d->src_lo = BE64(at + 16);
    d->dst_hi = BE64(at + 24);
    d->dst_lo = BE64(at + 32);
    d->iplen = payload + 40;
    d->fraghdr = 0;
    d->frag = 0;
    unsigned nh = (w0 >> 8) & 0xFF;
    int64_t pos = at + 40;
    /* Extension headers, up to a later fragment's payload (which is not a header). */
    while (is_extension(nh) && d->frag != 2) {
        if (pos + 8 > d->end) {
            fail(d, R_TRUNC_IPV6_EXT);
            return false;
        }
        unsigned following = U8(pos), hlen = U8(pos + 1);
        int64_t step = nh == AH ? (int64_t)(hlen + 2) * 4 : nh == FRAGMENT ? 8 : (int64_t)(hlen + 1) * 8;
        if (nh == FRAGMENT) {
            uint64_t whole = BE64(pos); /* next header, reserved, offset and M flag, identification */
            unsigned field = (whole >> 32) & 0xFFFF;
            d->frag = (field & 0xFFF8) ? 2 : ((field & 1) ? 1 : 0);
            d->ipid = (uint32_t)whole;
            d->fraghdr = whole;
            if (d->frag) mark(d, E_FRAGMENT);
        }
        nh = following;
        pos += step;
    }
    d->proto = (uint8_t)nh;
    d->l4 = d->p = pos;
    d->state = ST_IP;
    return true;
}

static inline bool has_ports(unsigned proto) {
    return proto == TCP || proto == UDP || proto == DCCP || proto == SCTP || proto == UDPLITE;
}

/* Ports, TCP flags, ICMP type, and the first 16 bytes after the IP header (the
 * duplicate check's; of a later fragment its first data bytes). */
static void transport(nps_pkt *d) {
    int64_t l4 = d->l4, room = d->end - l4;
    if (room >= 8) d->t0 = BE64(l4);
    else if (room >= 4) d->t0 = (uint64_t)BE32(l4) << 32;
    else if (room >= 1) d->t0 = (uint64_t)U8(l4) << 56;
    else d->t0 = 0;
    d->t1 = room >= 16 ? BE64(l4 + 8) : 0;
    bool ported = has_ports(d->proto);
    if (d->frag == 2) { /* no transport header: its data follows the IP header */
        room = -1;
        ported = false;
    }
    d->has_ports = ported && room >= 4;
    d->sport = d->has_ports ? (uint16_t)(d->t0 >> 48) : 0;
    d->dport = d->has_ports ? (uint16_t)(d->t0 >> 32) : 0;
    if (ported && room < 4) d->short_l4 = true;
    d->tcpflags = (d->proto == TCP && room >= 14) ? (uint8_t)(d->t1 >> 16) : 0;
    d->icmptype = ((d->proto == ICMP || d->proto == ICMPV6) && room >= 1) ? (int16_t)(d->t0 >> 56) : -1;
}

/* ---- tunnels ------------------------------------------------------------------------- */

/* Back into the decode loop at `at`, a header of kind `et`; tunnel_id < 0 keeps the
 * current one, header_vlan > 0 is the VLAN an ERSPAN header names. */
static inline void enter(nps_pkt *d, int64_t at, uint32_t et, int encap, int64_t tunnel_id, int32_t header_vlan) {
    if (d->depth >= MAX_TUNNELS) {
        fail(d, R_TOO_MANY_TUNNELS);
        return;
    }
    if (d->frag == 1) {
        /* A fragmented tunnel packet: the inner packet counts whole from its first
         * fragment; the outer datagram's later fragments must count nowhere. */
        nps_dgram_key *k = &d->swallow[d->nswallow++];
        k->src_hi = d->src_hi, k->src_lo = d->src_lo, k->dst_hi = d->dst_hi, k->dst_lo = d->dst_lo;
        k->proto = d->proto, k->ipid = d->ipid;
        d->frag = 0;
    }
    d->state = ST_ACTIVE;
    d->p = at;
    d->et = et;
    d->depth++;
    d->path = (d->path << 1) ^ d->src_lo ^ d->src_hi; /* the tunnel's source joins the way */
    if (et != K_ETHER) {
        /* An IP packet inside: its hosts are beyond the tunnel's end, and the frame's
         * MAC is that end's (or the next hop's), not theirs. It stays part of the way
         * (dedupe's other-path), and the inner packet has no MAC of its own. */
        d->path ^= nps_src_mac(d) & 0xFFFFFFFFFFFFull;
        d->mac_at = -1;
        d->ether_mac = false;
    }
    d->vlan_outer = d->vlan_inner = -1;
    d->has_ports = false;
    d->fraghdr = 0;
    mark(d, encap);
    if (tunnel_id >= 0) d->tunnel_id = tunnel_id;
    if (header_vlan > 0) d->vlan_outer = header_vlan;
}

static void gre(nps_pkt *d) {
    if (!need(d, 4, R_TRUNC_GRE)) return;
    int64_t at = d->p;
    uint32_t flags = BE16(at), kind = BE16(at + 2);
    bool known = kind == ET_IPV4 || kind == ET_IPV6 || kind == 0x8847 || kind == 0x8848 || kind == TEB ||
                 kind == ERSPAN_I_II || kind == ERSPAN_III;
    /* Version 1 is PPTP's enhanced GRE (PPP inside), source routing is obsolete: such
     * packets stay GRE flows of the outer addresses. */
    if ((flags & 7) || (flags & GRE_R) || !known) return;
    int64_t inner = at + 4 + 4 * (!!(flags & GRE_C) + !!(flags & GRE_K) + !!(flags & GRE_S));
    if (inner > d->end) {
        fail(d, R_TRUNC_GRE);
        return;
    }
    if (kind == ERSPAN_I_II && (flags & GRE_S)) { /* type II: a sequence number, an 8-byte header */
        if (inner + 8 > d->end) {
            fail(d, R_TRUNC_ERSPAN);
            return;
        }
        uint32_t w0 = BE32(inner);
        enter(d, inner + 8, K_ETHER, E_ERSPAN_II, w0 & 0x3FF, (w0 >> 16) & 0xFFF);
    } else if (kind == ERSPAN_III) {
        if (inner + 12 > d->end) {
            fail(d, R_TRUNC_ERSPAN);
            return;
        }
        uint32_t w0 = BE32(inner), w2 = BE32(inner + 8);
        /* The O flag announces an 8-byte platform-specific sub-header. */
        int64_t payload = inner + 12 + 8 * (w2 & 1);
        uint32_t et = ((w2 >> 10) & 0x1F) == 2 ? K_IP_ANY : K_ETHER;
        enter(d, payload, et, E_ERSPAN_III, w0 & 0x3FF, (w0 >> 16) & 0xFFF);
    } else if (kind == ERSPAN_I_II) {
        enter(d, inner, K_ETHER, E_ERSPAN_I, -1, 0);
    } else if (kind == TEB) {
        enter(d, inner, K_ETHER, E_GRE_TEB, -1, 0);
    } else {
        enter(d, inner, kind, E_GRE, -1, 0);
    }
}

/* GTP-U (3GPP TS 29.281): version 1, protocol type GTP; only a G-PDU carries a user's
 * IP packet (echo, error indication and end marker are the tunnel's own). The E, S
 * and PN flags add 4 bytes, the E flag a chain of extension headers (each a length
 * in 4-byte units, its content, the next one's type), at most GTP_EXTENSIONS deep.
 * The header's length must agree with the UDP datagram's: a port alone proves nothing. */
static void gtp_u(nps_pkt *d) {
    int64_t at = d->l4 + 8;
    if (at + 8 > d->end) return; /* too short for GTP: a UDP datagram on the port */
    uint32_t flags = U8(at), type = U8(at + 1), length = BE16(at + 2);
    if ((flags & 0xF0) != 0x30 || type != GTP_G_PDU || 16 + length != BE16(d->l4 + 4)) return;
    int64_t teid = BE32(at + 4), inner = at + 8;
    if (flags & 0x07) {
        if (!need_at(d, inner + 4, R_TRUNC_GTP)) return;
        uint32_t next = flags & 0x04 ? U8(inner + 3) : 0;
        inner += 4;
        for (int n = 0; next; n++) {
            if (n == GTP_EXTENSIONS || !need_at(d, inner + 1, R_TRUNC_GTP)) {
                if (n == GTP_EXTENSIONS) fail(d, R_TRUNC_GTP);
                return;
            }
            int64_t size = 4 * (int64_t)U8(inner);
            if (size == 0 || !need_at(d, inner + size, R_TRUNC_GTP)) {
                if (size == 0) fail(d, R_TRUNC_GTP);
                return;
            }
            next = U8(inner + size - 1);
            inner += size;
        }
    }
    if (inner < d->end) enter(d, inner, K_IP_ANY, E_GTP_U, teid, 0);
}

/* Teredo (RFC 4380): IPv6 in UDP, after an optional authentication header (indicator
 * 0x0001) and an optional origin indication (0x0000, 8 bytes). What follows must be
 * an IPv6 header whose length ends where the UDP datagram does (a qualification
 * bubble is one with no payload); anything else on the port is left as UDP. */
static void teredo(nps_pkt *d) {
    int64_t at = d->l4 + 8;
    if (at + 2 <= d->end && BE16(at) == 0x0001) { /* authentication: ID and AU lengths, nonce, confirmation */
        if (at + 4 > d->end) return;
        at += 4 + U8(at + 2) + U8(at + 3) + 9;
    }
    if (at + 2 <= d->end && BE16(at) == 0x0000) at += 8; /* origin indication */
    if (at + 40 > d->end || (U8(at) >> 4) != 6 || at + 40 + BE16(at + 4) != d->l4 + BE16(d->l4 + 4)) return;
    enter(d, at, ET_IPV6, E_TEREDO, -1, 0);
}

/* The 8-byte header after the UDP header (VXLAN, VXLAN-GPE, Geneve), or failure. */
static bool udp_header(nps_pkt *d, int reason, int64_t *at, uint64_t *w0) {
    *at = d->l4 + 8;
    if (*at + 8 > d->end) {
        fail(d, reason);
        return false;
    }
    *w0 = BE64(*at);
    return true;
}

static void udp_tunnel(nps_pkt *d) {
    int64_t at;
    uint64_t w0;
    int64_t vni;
    if (d->dport == VXLAN_PORT) {
        if (!udp_header(d, R_TRUNC_VXLAN, &at, &w0)) return;
        vni = (int64_t)((w0 >> 8) & 0xFFFFFF);
        if ((w0 >> 56) & 0x08) enter(d, at + 8, K_ETHER, E_VXLAN, vni, 0); /* the I flag: a VNI is there */
    } else if (d->dport == GENEVE_PORT) {
        /* Geneve (RFC 8926): version 0, options skipped; Ethernet, IPv4 or IPv6 inside. */
        if (!udp_header(d, R_TRUNC_GENEVE, &at, &w0)) return;
        vni = (int64_t)((w0 >> 8) & 0xFFFFFF);
        uint32_t kind = (w0 >> 32) & 0xFFFF;
        if ((w0 >> 62) != 0 || (kind != TEB && kind != ET_IPV4 && kind != ET_IPV6)) return;
        int64_t inner = at + 8 + 4 * (int64_t)((w0 >> 56) & 0x3F);
        if (inner > d->end) {
            fail(d, R_TRUNC_GENEVE);
            return;
        }
        enter(d, inner, kind == TEB ? K_ETHER : kind, E_GENEVE, vni, 0);
    } else if (d->dport == GTPU_PORT || d->sport == GTPU_PORT) {
        gtp_u(d);
    } else if (d->dport == TEREDO_PORT || d->sport == TEREDO_PORT) {
        teredo(d);
    } else if (d->dport == VXLAN_GPE_PORT) {
        /* VXLAN-GPE: the header names its payload; NSH is not decoded. */
        if (!udp_header(d, R_TRUNC_VXLAN, &at, &w0)) return;
        vni = (int64_t)((w0 >> 8) & 0xFFFFFF);
        uint32_t next, np = (w0 >> 32) & 0xFF;
        if (np == 1) next = ET_IPV4;
        else if (np == 2) next = ET_IPV6;
        else if (np == 3) next = K_ETHER;
        else if (np == 5) next = MPLS_UNICAST;
        else return;
        enter(d, at + 8, next, E_VXLAN_GPE, vni, 0);
    }
}

/* Tunnels in a freshly decoded IP packet go back in at their payload. A first
 * fragment is unwrapped too: its inner headers are all in the first piece. */
static void tunnels(nps_pkt *d) {
    if (d->frag == 2) return;
    if (d->proto == GRE) gre(d);
    else if (d->proto == IPIP || d->proto == IPV6_IN_IP)
        enter(d, d->p, d->proto == IPIP ? ET_IPV4 : ET_IPV6, E_IP_IN_IP, -1, 0);
    else if (d->proto == UDP && d->has_ports) udp_tunnel(d);
}

/* ---- the walk -------------------------------------------------------------------------- */

void nps_decode(nps_pkt *d, const uint8_t *buf, const nps_frame *f) {
    memset(d, 0, offsetof(nps_pkt, swallow));
    d->buf = buf;
    d->start = d->p = f->off;
    d->end = f->off + f->caplen;
    d->mac_at = -1;
    d->vlan_outer = d->vlan_inner = -1;
    d->tunnel_id = -1;
    d->icmptype = -1;
    d->state = ST_ACTIVE;
    start(d, f->linktype);
    for (int layer = 0; layer < MAX_LAYERS && d->state == ST_ACTIVE; layer++) {
        uint32_t et = d->et;
        if (et == K_ETHER) ethernet(d);
        else if (et == 0x8100 || et == 0x88A8 || et == 0x9100 || et == 0x9200) vlan(d);
        else if (et == 0x8847 || et == 0x8848) mpls(d);
        else if (et == 0x8864) pppoe(d);
        else if (et == K_IP_ANY) ip_any(d);
        else if (et == ET_IPV4 || et == ET_IPV6) {
            if (et == ET_IPV4 ? ipv4(d, f->wirelen) : ipv6(d, f->wirelen)) {
                transport(d);
                tunnels(d);
            }
        } else d->state = ST_L2; /* a payload the sensor does not decode further (ARP, LLDP, ...) */
    }
    if (d->state == ST_ACTIVE) fail(d, R_TOO_MANY_LAYERS);
    for (int i = 0; i < d->nswallow; i++) d->swallow[i].ts = f->ts;
}
