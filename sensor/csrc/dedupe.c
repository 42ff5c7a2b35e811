/* Copies of one packet delivered twice by a TAP or SPAN session, counted once.
 *
 * A SPAN session that mirrors both the ingress and the egress port of a switched path,
 * a routed path mirrored on both of its VLANs, or two ERSPAN sessions covering the same
 * link hand the sensor the same packet twice, microseconds apart. A copy is a packet
 * equal to one seen at most `window` seconds before in its IP header (all of it but
 * TTL / hop limit and checksum, with the IPv6 fragment header) and the first 16 bytes
 * after it (ports, TCP sequence and acknowledgment numbers, UDP length and checksum; a
 * later fragment's first data bytes): the decoder's `head`, addresses, `fraghdr`, `t0`
 * and `t1`, hashed to 64 bits. The transport checksum covers the payload, so different
 * packets of a flow do not match, nor do the fragments of one datagram (their offsets
 * differ) or two datagrams (their identifications differ).
 *
 * What the check cannot know is whether a byte-identical packet was sent twice (two
 * identical RSTs answering two segments, an IPv6 host repeating a pure ACK). So each
 * copy is counted under what proves it one, compared with the latest earlier packet of
 * its hash:
 *
 * - hop-limit: its TTL or hop limit differs: seen on both sides of a router, which a
 *   sender cannot produce;
 * - other-path: same TTL, another way: another VLAN, ERSPAN session, VXLAN/Geneve VNI,
 *   tunnel source or source MAC;
 * - ip-id: the same way, with an identification its sender gives each datagram anew
 *   (IPv4's IP ID when not 0, an IPv6 fragment header's): one datagram seen twice;
 * - identical: nothing tells it from a packet sent twice (IPv6, or an IPv4 ID of 0):
 *   a copy only within the much shorter `identical_window` (docs/engine.md says how to
 *   choose the windows); this count is what the check may take from genuine traffic.
 *
 * The last RING packets are kept in a ring, indexed by buckets of their hash whose
 * entries chain to the previous packet of the same bucket: a lookup walks a chain of
 * about half a packet until it meets one older than the ring. RING bounds what a
 * window can hold (32,768 packets: 10 ms at 3.2 million packets per second).
 */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

#define RING (1u << NPS_RING_BITS)
#define BUCKETS (2u << NPS_RING_BITS)

const char *const DUP_REASON_NAMES[N_DUP_REASONS] = {"hop-limit", "other-path", "ip-id", "identical"};

int nps_dedupe_init(nps_dedupe *t) {
    memset(t, 0, sizeof *t);
    t->ring = calloc(RING, sizeof *t->ring);
    t->heads = calloc(BUCKETS, sizeof *t->heads);
    if (!t->ring || !t->heads) {
        nps_dedupe_free(t);
        return -1;
    }
    return 0;
}

void nps_dedupe_free(nps_dedupe *t) {
    free(t->ring);
    free(t->heads);
    t->ring = NULL;
    t->heads = NULL;
}

uint64_t nps_dedupe_hash(const nps_pkt *d) {
    uint64_t h = nps_hash2(nps_mix(d->head), d->src_lo);
    h = nps_hash2(nps_hash2(h, d->dst_lo), d->src_hi ^ nps_mix(d->dst_hi));
    h = nps_hash2(nps_hash2(h, d->t0), d->t1);
    return d->fraghdr ? nps_hash2(h, d->fraghdr) : h;
}

/* The way a packet came: its source MAC in the low 48 bits, VLANs, tunnel id and the
 * tunnels' sources folded in above and over it. Keys are only compared. */
static uint64_t way(const nps_pkt *d) {
    uint64_t vlans = (uint64_t)(d->vlan_outer & 0xFFF) << 12 | (uint64_t)(d->vlan_inner & 0xFFF);
    uint64_t w = (vlans << 40 ^ (uint64_t)d->tunnel_id << 20) ^ d->path;
    return w ^ (nps_src_mac(d) & 0xFFFFFFFFFFFFull);
}

/* A lookup is two dependent cache misses (the bucket's head, then the bucket's latest
 * packet in the ring): the engine asks for each a few frames before the lookup. */
void nps_dedupe_prefetch_head(const nps_dedupe *t, uint64_t h) {
    __builtin_prefetch(&t->heads[(uint32_t)(h >> 40) & (BUCKETS - 1)]);
}
void nps_dedupe_prefetch_slot(const nps_dedupe *t, uint64_t h) {
    uint32_t at = t->heads[(uint32_t)(h >> 40) & (BUCKETS - 1)];
    if (at) __builtin_prefetch(&t->ring[(at - 1) & (RING - 1)]);
}

static uint8_t ttl(const nps_pkt *d) { return nps_u8(d, d->l3 + (d->ipver == 4 ? 8 : 7)); }

bool nps_dedupe_copy(nps_dedupe *t, const nps_pkt *d, uint64_t h, double ts) {
    if (t->window <= 0) return false;
    uint32_t bucket = (uint32_t)(h >> 40) & (BUCKETS - 1);
    /* The latest earlier packet of the same hash still in the ring. */
    const nps_seen *before = NULL;
    for (uint32_t at = t->heads[bucket]; at && t->seq - (at - 1) <= RING;) {
        const nps_seen *s = &t->ring[(at - 1) & (RING - 1)];
        if (s->hash == h) {
            before = s;
            break;
        }
        if (s->prev >= at) break; /* an older slot, overwritten since */
        at = s->prev;
    }
    uint8_t mine = ttl(d);
    uint64_t path = way(d);
    bool copy = false;
    if (before) {
        double gap = ts > before->ts ? ts - before->ts : before->ts - ts;
        if (gap <= t->window) {
            int reason;
            if (mine != before->ttl) reason = D_HOP_LIMIT;
            else if (path != before->path) reason = D_OTHER_PATH;
            else if (d->ipver == 4 ? ((d->head >> 16) & 0xFFFF) != 0 : d->fraghdr != 0) reason = D_IP_ID;
            else reason = D_IDENTICAL;
            double near = t->identical_window < t->window ? t->identical_window : t->window;
            copy = reason != D_IDENTICAL || gap <= near;
            if (copy) t->reasons[reason]++;
        }
    }
    /* Every packet, copies included, is the one the next of its hash is compared with. */
    nps_seen *s = &t->ring[t->seq & (RING - 1)];
    s->hash = h;
    s->path = path;
    s->ts = ts;
    s->ttl = mine;
    s->prev = t->heads[bucket];
    t->seq++;
    t->heads[bucket] = t->seq;
    return copy;
}
