/* The sensor's packet core: capture buffers in, flows, hosts and chosen packets out.
 *
 * Everything here is plain C with no Python in it (module.c is the only file that
 * speaks the CPython API), so that the fuzzer and the sanitizers can drive the core
 * on its own. The core never builds an object per packet: a batch of frames (their
 * offsets in one capture buffer) is decoded, deduplicated and counted in one pass,
 * and only what Python needs comes out: the packets discovery dissects, DNS answers
 * for monitored domains, and at each report window the flows and hosts tables' news.
 *
 * Memory safety: every byte is read through the frame's bounds (dec.c's readers
 * return 0 past them and, built with -DNPS_STRICT, abort, which the fuzzer turns
 * into a finding); tables are bounded and never trust a length from the wire.
 */
#ifndef NPS_CORE_H
#define NPS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- frames of a capture buffer ------------------------------------------------ */

typedef struct {
    int64_t off;      /* where the link-layer header starts in the buffer */
    uint32_t caplen;  /* bytes present (off + caplen <= buffer size, checked on entry) */
    uint32_t wirelen; /* length on the wire */
    double ts;        /* seconds since the epoch */
    uint32_t linktype;
    uint32_t iface;
} nps_frame;

/* ---- decoding ------------------------------------------------------------------ */

enum { ST_ACTIVE, ST_IP, ST_L2, ST_ERROR };

/* Header kinds beyond EtherTypes (EtherType values are used as they are). */
#define K_ETHER 0x10000u  /* an Ethernet II / 802.3 header */
#define K_IP_ANY 0x10001u /* an IPv4 or IPv6 header: the version nibble tells */
#define K_LLC 0x10002u    /* an 802.2 LLC frame (802.3 length field) */
#define ET_IPV4 0x0800u
#define ET_IPV6 0x86DDu
#define ET_ARP 0x0806u

/* Table sizes; the fuzzer's build makes them small, so that growth, eviction and
 * wrap-around run often (and a fresh engine per input is cheap). */
#ifndef NPS_SEEN_LIMIT
#define NPS_SEEN_LIMIT 100000 /* discovery's "seen this window" keys, per set */
#endif
#ifndef NPS_RING_BITS
#define NPS_RING_BITS 15 /* packets the duplicate check looks back on: 32,768 */
#endif
#ifndef NPS_TABLE_BITS
#define NPS_TABLE_BITS 14 /* the flow table's first capacity (it grows) */
#endif
#ifndef NPS_FRAG_BITS
#define NPS_FRAG_BITS 17 /* the fragment table's buckets */
#endif

/* Bounds of one frame's decoding (docs/engine.md). */
#define MAX_TUNNELS 8
#define MAX_LAYERS 48

/* Encapsulations (bits of nps_pkt.encap); names in ENCAP_NAMES, same order. */
enum {
    E_VLAN, E_QINQ, E_MPLS, E_PPPOE, E_GRE, E_ERSPAN_I, E_ERSPAN_II, E_ERSPAN_III, E_GRE_TEB,
    E_VXLAN, E_VXLAN_GPE, E_GENEVE, E_IP_IN_IP, E_IPV6, E_FRAGMENT, E_SLL, E_RAW_IP, E_GTP_U, E_TEREDO, N_ENCAPS
};
extern const char *const ENCAP_NAMES[N_ENCAPS];

/* Decode errors; names in REASON_NAMES, same order. */
enum {
    R_UNKNOWN_LINKTYPE, R_TRUNC_LINK, R_TRUNC_ETHERNET, R_TRUNC_VLAN, R_TRUNC_MPLS,
    R_TRUNC_PPPOE, R_TRUNC_IPV4, R_BAD_IPV4_HEADER, R_BAD_IPV4_LENGTH, R_TRUNC_IPV6,
    R_BAD_IP_VERSION, R_TRUNC_IPV6_EXT, R_TRUNC_GRE, R_TRUNC_ERSPAN, R_TRUNC_VXLAN,
    R_TRUNC_GENEVE, R_TOO_MANY_LAYERS, R_TOO_MANY_TUNNELS, R_TRUNC_GTP, N_REASONS
};
extern const char *const REASON_NAMES[N_REASONS];

/* An outer datagram whose first fragment carried a tunnel: its later fragments count
 * nowhere (the inner packet is counted whole from the first). */
typedef struct {
    uint64_t src_hi, src_lo, dst_hi, dst_lo;
    uint32_t proto, ipid;
    double ts;
} nps_dgram_key;

/* One frame, decoded down to its innermost IP header (or as far as it goes). */
typedef struct {
    const uint8_t *buf;
    int64_t start, end; /* the frame: [start, end) of buf */
    int64_t p;          /* the next header */
    uint32_t et;        /* its kind */
    uint8_t state;
    int8_t err;         /* a REASON while state is ST_ERROR */
    uint8_t tags;       /* 802.1Q tags since the last Ethernet header */
    uint8_t depth;      /* tunnels entered */
    bool ether_mac;     /* mac_at is an Ethernet header's (a destination MAC precedes it) */
    int64_t mac_at;     /* innermost source MAC, -1 if none */
    int32_t vlan_outer, vlan_inner;
    int64_t tunnel_id;  /* innermost ERSPAN session or VNI, -1 if none */
    uint64_t path;      /* the tunnels' sources, mixed: the way the frame came */
    uint32_t encap;
    /* For state ST_IP: */
    int64_t l3, l4;
    uint8_t ipver, frag; /* frag: 0 whole, 1 first fragment, 2 a later one */
    uint8_t proto, tcpflags;
    int16_t icmptype;    /* -1 if none */
    bool has_ports, short_l4;
    uint16_t sport, dport;
    uint32_t ipid;
    int64_t iplen;
    uint64_t src_hi, src_lo, dst_hi, dst_lo;
    uint64_t head;    /* IP header's first 8 bytes, TTL / hop limit left out */
    uint64_t fraghdr; /* the IPv6 fragment header, 0 if none */
    uint64_t t0, t1;  /* the first 16 bytes after the IP header */
    int nswallow;
    nps_dgram_key swallow[MAX_TUNNELS];
} nps_pkt;

void nps_decode(nps_pkt *d, const uint8_t *buf, const nps_frame *f);
/* Reads inside the frame: 0 past its bounds (and, built with -DNPS_STRICT, abort: a
 * read the checks before it should have kept inside the frame). Inline: they run
 * many times a packet, in every stage. */
static inline bool nps_inside(const nps_pkt *d, int64_t at, int64_t width) {
    bool ok = at >= d->start && at + width <= d->end;
#ifdef NPS_STRICT
    if (!ok) abort();
#endif
    return ok;
}
/* a byte of the frame, 0 outside it */
static inline uint8_t nps_u8(const nps_pkt *d, int64_t at) { return nps_inside(d, at, 1) ? d->buf[at] : 0; }
static inline uint16_t nps_be16(const nps_pkt *d, int64_t at) {
    if (!nps_inside(d, at, 2)) return 0;
    const uint8_t *b = d->buf + at;
    return (uint16_t)(b[0] << 8 | b[1]);
}
static inline uint32_t nps_be32(const nps_pkt *d, int64_t at) {
    if (!nps_inside(d, at, 4)) return 0;
    const uint8_t *b = d->buf + at;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline uint64_t nps_be64(const nps_pkt *d, int64_t at) {
    if (!nps_inside(d, at, 8)) return 0;
    uint64_t v;
    memcpy(&v, d->buf + at, 8);
    return __builtin_bswap64(v);
}
/* Six bytes as a MAC: one bounds check for the whole address; the byte-wise reads
 * (0 outside the frame) only where it runs past an edge. */
static inline uint64_t nps_mac_at(const nps_pkt *d, int64_t at) {
    uint64_t mac = 0;
    if (at >= d->start && at + 6 <= d->end) {
        uint32_t hi4;
        uint16_t lo2;
        memcpy(&hi4, d->buf + at, 4);
        memcpy(&lo2, d->buf + at + 4, 2);
        return (uint64_t)__builtin_bswap32(hi4) << 16 | __builtin_bswap16(lo2);
    }
    for (int i = 0; i < 6; i++) mac = mac << 8 | nps_u8(d, at + i);
    return mac;
}
/* innermost source MAC, UINT64_MAX if none */
static inline uint64_t nps_src_mac(const nps_pkt *d) { return d->mac_at < 0 ? UINT64_MAX : nps_mac_at(d, d->mac_at); }
/* destination MAC of an Ethernet header, UINT64_MAX if none */
static inline uint64_t nps_dst_mac(const nps_pkt *d) {
    return d->mac_at < 0 || !d->ether_mac ? UINT64_MAX : nps_mac_at(d, d->mac_at - 6);
}

/* ---- hashing ------------------------------------------------------------------- */

static inline uint64_t nps_mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}
static inline uint64_t nps_hash2(uint64_t h, uint64_t v) { return nps_mix(h * 0x9E3779B97F4A7C15ull ^ v); }

/* A set of 64-bit keys, bounded (discovery's "seen this window" sets). */
typedef struct {
    uint64_t *slots; /* 0 = empty; key 0 is stored as 1 */
    uint32_t mask, used, limit;
} nps_set;
int nps_set_init(nps_set *s, uint32_t limit);
void nps_set_free(nps_set *s);
void nps_set_clear(nps_set *s);
bool nps_set_has(const nps_set *s, uint64_t key);
bool nps_set_add(nps_set *s, uint64_t key); /* false if full (not added) */

/* ---- orientation (roles.py's tables) ----------------------------------------------- */

#define N_SAME_PORT_KINDS 6
typedef struct {
    uint8_t well_known[65536];
    uint8_t pair_client[65536], pair_server[65536];
    uint8_t same_port[65536];
    int32_t min_payload[N_SAME_PORT_KINDS];
    uint8_t key_byte[N_SAME_PORT_KINDS];
    uint16_t key_bit[N_SAME_PORT_KINDS][256];
    int8_t role[N_SAME_PORT_KINDS][512];
    int8_t icmp_role[3][256];
} nps_roles;

/* ---- packet rows (what flows and fragments account) --------------------------------- */

typedef struct {
    double ts;
    uint64_t src_hi, src_lo, dst_hi, dst_lo;
    uint64_t t0, t1;
    int64_t tunnel;
    uint32_t iplen;
    int32_t vlan;
    uint16_t sport, dport;
    uint8_t proto, tcpflags;
    int16_t icmptype;
    bool has_ports;
} nps_row;

/* Multicast or broadcast (IPv4 mapped into the 128-bit space, or IPv6): inline, as
 * every packet's sender is checked (the host table). */
static inline bool nps_is_group(uint64_t hi, uint64_t lo) {
    if (hi == 0 && (lo >> 32) == 0xFFFFull) {
        uint32_t a = (uint32_t)lo;
        return (a >> 28) == 0xE || a == 0xFFFFFFFFu;
    }
    return (hi >> 56) == 0xFF;
}
static inline bool nps_is_unspecified(uint64_t hi, uint64_t lo) {
    return hi == 0 && (lo == (0xFFFFull << 32) || lo == 0);
}
bool nps_client_is_sender(const nps_roles *r, const nps_row *row);

#endif
