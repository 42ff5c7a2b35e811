/* One batch of frames through the core, in one pass over the frames:
 *
 *   decode -> counters -> (IP) drop copies -> choose for discovery -> host -> flow
 *                         (ARP) host, (link layer) choose for discovery
 *
 * then, at the batch's end, the fragments it held (after the tunnels' first fragments
 * it saw), the flow table's bounds and idle sweep, and the ClientHello continuations.
 * Whole packets reach the flow table in order, a batch's fragments after them (as the
 * fragment table releases them): the first packet a flow sees decides who its client
 * is, and this order is the engine's documented one.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

enum { UDP = 17 };
#define V4_MAPPED 0xFFFF00000000ull

int nps_engine_init(nps_engine *e, nps_roles *roles, int64_t max_flows, double idle_timeout) {
    memset(e, 0, sizeof *e);
    e->roles = roles;
    e->stats.first = 1.0 / 0.0;
    e->stats.last = -1.0 / 0.0;
    if (nps_flows_init(&e->flows, roles, max_flows, idle_timeout) || nps_hosts_init(&e->hosts) ||
        nps_dedupe_init(&e->dedupe) || nps_frags_init(&e->frags) || nps_set_init(&e->syn_seen, NPS_SEEN_LIMIT) ||
        nps_set_init(&e->repeat_seen, NPS_SEEN_LIMIT)) {
        nps_engine_free(e);
        return -1;
    }
    return 0;
}

void nps_engine_free(nps_engine *e) {
    nps_flows_free(&e->flows);
    nps_hosts_free(&e->hosts);
    nps_dedupe_free(&e->dedupe);
    nps_frags_free(&e->frags);
    nps_set_free(&e->syn_seen);
    nps_set_free(&e->repeat_seen);
    free(e->fragrows.items);
    free(e->swallows.items);
    free(e->tcpdata.items);
    free(e->picks.items);
    free(e->links.items);
    free(e->dns.items);
    free(e->rows.items);
    free(e->batch.items);
    memset(e, 0, sizeof *e);
}

static void count(nps_stats *s, const nps_pkt *d, const nps_frame *f) {
    s->packets++;
    s->bytes += f->wirelen;
    if (f->ts < s->first) s->first = f->ts;
    if (f->ts > s->last) s->last = f->ts;
    if (d->state == ST_IP) s->ip_packets++;
    else if (d->state == ST_ERROR) s->reasons[d->err]++;
    else if (d->state == ST_L2) s->non_ip[d->et < 0x10000 ? d->et : 65536]++;
    s->short_l4 += d->short_l4;
    for (uint32_t bits = d->encap; bits; bits &= bits - 1) s->encaps[__builtin_ctz(bits)]++;
}

static void row_of(const nps_pkt *d, double ts, nps_row *r) {
    *r = (nps_row){
        .ts = ts, .src_hi = d->src_hi, .src_lo = d->src_lo, .dst_hi = d->dst_hi, .dst_lo = d->dst_lo,
        .t0 = d->t0, .t1 = d->t1, .tunnel = d->tunnel_id, .iplen = (uint32_t)d->iplen, .vlan = d->vlan_outer,
        .sport = d->sport, .dport = d->dport, .proto = d->proto, .tcpflags = d->tcpflags,
        .icmptype = d->icmptype, .has_ports = d->has_ports,
    };
}

/* ARP senders are devices too, even those that never send IP. A request's sender
 * fields are the requester's own address and MAC (RFC 5227's announcements are requests
 * too): that pair is claimed, a binding as DHCP's or NDP's. A reply's are not: a router
 * answering by proxy ARP (RFC 1027) names the addresses beyond it with its own MAC. Nor
 * is a request whose sender MAC is not the frame's source. */
static int arp(nps_engine *e, const nps_pkt *d, double ts) {
    int64_t at = d->p;
    if (at + 28 > d->end) return 0;
    /* Ethernet hardware (1), IPv4 protocol, 6-byte and 4-byte addresses. */
    if (nps_be32(d, at) != 0x00010800 || nps_be16(d, at + 4) != 0x0604) return 0;
    uint64_t mac = (uint64_t)nps_be16(d, at + 8) << 32 | nps_be32(d, at + 10);
    uint64_t ip = (uint64_t)nps_be32(d, at + 14) | V4_MAPPED;
    bool claims = nps_be16(d, at + 6) == 1 && mac == nps_src_mac(d);
    return nps_hosts_observe(&e->hosts, ts, 0, ip, mac, d->vlan_outer, d->tunnel_id, claims);
}

static int ip(nps_engine *e, const nps_pkt *d, uint64_t hash, uint32_t pos, double ts) {
    if (nps_dedupe_copy(&e->dedupe, d, hash, ts)) return 0;
    if (e->sel && nps_select_ip(e, d, pos, ts)) return -1;
    if (nps_hosts_observe(&e->hosts, ts, d->src_hi, d->src_lo, nps_src_mac(d), d->vlan_outer, d->tunnel_id, false))
        return -1;
    if (!d->short_l4) {
        nps_row r;
        row_of(d, ts, &r);
        if (d->frag) {
            nps_frag_row fr = {r, d->frag, d->ipid};
            if (PUSH(e->fragrows, fr)) return -1;
        } else if (nps_flows_add(&e->flows, &r)) {
            return -1;
        }
    }
    /* DNS answers bind monitored domains to addresses (whole datagrams only: an answer
     * cut into fragments cannot be parsed from its first piece). */
    if (e->watch_dns && d->sport == 53 && d->proto == UDP && d->has_ports && d->frag == 0) {
        int64_t span[2] = {d->l4 + 8, d->end};
        if (PUSH(e->dns, span[0]) || PUSH(e->dns, span[1])) return -1;
    }
    return 0;
}

static int end_batch(nps_engine *e) {
    for (size_t i = 0; i < e->swallows.n; i++)
        if (nps_frags_swallow(&e->frags, &e->swallows.items[i])) return -1;
    if (e->fragrows.n) {
        e->rows.n = 0;
        if (nps_frags_process(&e->frags, e->fragrows.items, e->fragrows.n, &e->rows)) return -1;
        for (size_t i = 0; i < e->rows.n; i++)
            if (nps_flows_add(&e->flows, &e->rows.items[i])) return -1;
    }
    return nps_flows_end_batch(&e->flows);
}

static void begin(nps_engine *e) {
    e->fragrows.n = e->swallows.n = e->tcpdata.n = e->picks.n = e->links.n = e->dns.n = 0;
    e->ncut = 0;
    e->tcp_payloads = false;
}

/* Frames are decoded two turns ahead of their work: the duplicate check's lookup is two
 * dependent cache misses (its bucket's head, then that bucket's latest packet), the
 * largest cost of the loop when they wait; the head is fetched while the two frames
 * before are worked on, the packet while the one before is. Only fetches move ahead:
 * every frame's work (tables, counters, choices) stays in the frames' order. */
#define AHEAD 3 /* frames in flight: one to work on, two decoded ahead */
typedef struct {
    nps_pkt d;
    uint64_t hash; /* nps_dedupe_hash of an IP packet */
    uint32_t pos;  /* in the batch */
} ahead;
typedef struct {
    ahead slot[AHEAD];
    uint32_t first, n; /* the oldest in flight, how many */
} pipeline;

/* Frame `a` of the batch `frames` (read now: the batch may have grown since). */
static int work(nps_engine *e, const ahead *a, const nps_frame *frames) {
    const nps_pkt *d = &a->d;
    const nps_frame *f = &frames[a->pos];
    count(&e->stats, d, f);
    for (int k = 0; k < d->nswallow; k++)
        if (PUSH(e->swallows, d->swallow[k])) return -1;
    if (d->state == ST_IP) return ip(e, d, a->hash, a->pos, f->ts);
    if (d->state == ST_L2) {
        if (d->et == ET_ARP && arp(e, d, f->ts)) return -1;
        if (e->sel && nps_select_link(e, d, a->pos, f->ts)) return -1;
    }
    return 0;
}

/* Frame `pos` of `frames` into the pipeline; the oldest frame in flight is worked on. */
static int feed(nps_engine *e, pipeline *p, const uint8_t *buf, const nps_frame *frames, uint32_t pos) {
    if (p->n == AHEAD) {
        if (work(e, &p->slot[p->first], frames)) return -1;
        p->first = (p->first + 1) % AHEAD;
        p->n--;
    }
    ahead *a = &p->slot[(p->first + p->n) % AHEAD];
    nps_decode(&a->d, buf, &frames[pos]);
    a->pos = pos;
    a->hash = a->d.state == ST_IP ? nps_dedupe_hash(&a->d) : 0;
    if (a->d.state == ST_IP) nps_dedupe_prefetch_head(&e->dedupe, a->hash);
    if (p->n) {
        const ahead *before = &p->slot[(p->first + p->n - 1) % AHEAD];
        if (before->d.state == ST_IP) nps_dedupe_prefetch_slot(&e->dedupe, before->hash);
    }
    p->n++;
    return 0;
}

/* The frames still in flight, in order. */
static int drain(nps_engine *e, pipeline *p, const nps_frame *frames) {
    for (; p->n; p->n--, p->first = (p->first + 1) % AHEAD)
        if (work(e, &p->slot[p->first], frames)) return -1;
    return 0;
}

static int finish(nps_engine *e, const uint8_t *buf, const nps_frame *frames, nps_hellos_fn hellos, void *ctx) {
    if (end_batch(e)) return -1;
    return e->sel ? nps_select_hellos(e, buf, frames, hellos, ctx) : 0;
}

int nps_engine_batch(nps_engine *e, const uint8_t *buf, const nps_frame *frames, size_t n, nps_hellos_fn hellos,
                     void *ctx) {
    begin(e);
    pipeline p = {.n = 0};
    for (size_t i = 0; i < n; i++) {
        if (i + 4 < n) { /* a few frames ahead: their first lines, while this one is decoded */
            __builtin_prefetch(buf + frames[i + 4].off);
            __builtin_prefetch(buf + frames[i + 4].off + 64);
        }
        if (feed(e, &p, buf, frames, (uint32_t)i)) return -1;
    }
    if (drain(e, &p, frames)) return -1;
    return finish(e, buf, frames, hellos, ctx);
}

int nps_engine_run(nps_engine *e, nps_source *src, double stop, nps_hellos_fn hellos, void *ctx, size_t *taken,
                   bool *late) {
    begin(e);
    e->batch.n = 0;
    *late = false;
    const nps_frame *f;
    int r;
    pipeline p = {.n = 0};
    while ((r = nps_source_peek(src, &f)) == 1) {
        if (f->ts >= stop) {
            *late = true;
            break;
        }
        if (PUSH(e->batch, *f)) return -1;
        nps_source_take(src);
        if (feed(e, &p, src->buf, e->batch.items, (uint32_t)(e->batch.n - 1))) return -1;
    }
    if (drain(e, &p, e->batch.items)) return -1;
    if (r < 0) return -1;
    *taken = e->batch.n;
    return e->batch.n ? finish(e, src->buf, e->batch.items, hellos, ctx) : 0;
}

int nps_engine_harvest(nps_engine *e, bool final, nps_deltas *flows) {
    if (final) {
        e->rows.n = 0;
        if (nps_frags_expire_all(&e->frags, &e->rows)) return -1;
        for (size_t i = 0; i < e->rows.n; i++)
            if (nps_flows_add(&e->flows, &e->rows.items[i])) return -1;
        if (nps_flows_end_batch(&e->flows)) return -1;
    }
    nps_set_clear(&e->syn_seen);
    nps_set_clear(&e->repeat_seen);
    return nps_flows_drain(&e->flows, flows);
}
