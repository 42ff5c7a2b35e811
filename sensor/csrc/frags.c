/* IP fragments: every fragment's bytes count towards its datagram's flow.
 *
 * Only the first fragment carries the ports. Later fragments are matched to it by
 * (source, destination, protocol, identification); those that come before it wait.
 * A datagram whose first fragment never comes still counts, as a port-less flow of its
 * protocol, once it times out or the run ends. A datagram whose first fragment carried
 * a tunnel was counted whole inside the tunnel: its later fragments count nowhere.
 * Bounded: past MAX_DATAGRAMS datagrams or MAX_WAITING waiting fragments (a fragment
 * flood) every datagram is let go, its waiting fragments counted port-less.
 */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DATAGRAMS 100000
#define MAX_WAITING 200000
#define BUCKETS (1u << NPS_FRAG_BITS)

struct nps_dgram {
    uint64_t src_hi, src_lo, dst_hi, dst_lo, hash;
    uint32_t proto, ipid;
    bool first, tunnel, ports;
    uint16_t sport, dport;
    double seen;
    nps_row *waiting;
    size_t nwait, capwait;
    nps_dgram *older, *newer, *next; /* creation order; bucket chain */
};

int nps_rows_push(nps_rows *r, const nps_row *x) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        nps_row *items = realloc(r->items, cap * sizeof *items);
        if (!items) return -1;
        r->items = items;
        r->cap = cap;
    }
    r->items[r->n++] = *x;
    return 0;
}

int nps_frags_init(nps_frags *t) {
    memset(t, 0, sizeof *t);
    t->slots = calloc(BUCKETS, sizeof *t->slots);
    if (!t->slots) return -1;
    t->mask = BUCKETS - 1;
    t->timeout = 30.0;
    t->next_expiry = -1.0 / 0.0;
    return 0;
}

static void unlink_dgram(nps_frags *t, nps_dgram *g) {
    nps_dgram **at = &t->slots[g->hash & t->mask];
    while (*at != g) at = &(*at)->next;
    *at = g->next;
    if (g->older) g->older->newer = g->newer;
    else t->oldest = g->newer;
    if (g->newer) g->newer->older = g->older;
    else t->newest = g->older;
    t->waiting -= (int64_t)g->nwait;
    t->count--;
    free(g->waiting);
    free(g);
}

void nps_frags_free(nps_frags *t) {
    while (t->oldest) unlink_dgram(t, t->oldest);
    free(t->slots);
    t->slots = NULL;
}

static nps_dgram *datagram(nps_frags *t, uint64_t sh, uint64_t sl, uint64_t dh, uint64_t dl, uint32_t proto,
                           uint32_t ipid) {
    uint64_t h = nps_hash2(nps_hash2(nps_hash2(nps_mix(sl), dl), sh ^ nps_mix(dh)), (uint64_t)proto << 32 | ipid);
    for (nps_dgram *g = t->slots[h & t->mask]; g; g = g->next)
        if (g->hash == h && g->src_lo == sl && g->dst_lo == dl && g->src_hi == sh && g->dst_hi == dh &&
            g->proto == proto && g->ipid == ipid)
            return g;
    nps_dgram *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->src_hi = sh, g->src_lo = sl, g->dst_hi = dh, g->dst_lo = dl, g->proto = proto, g->ipid = ipid, g->hash = h;
    g->next = t->slots[h & t->mask];
    t->slots[h & t->mask] = g;
    g->older = t->newest;
    if (t->newest) t->newest->newer = g;
    else t->oldest = g;
    t->newest = g;
    t->count++;
    t->datagrams++;
    return g;
}

int nps_frags_swallow(nps_frags *t, const nps_dgram_key *k) {
    nps_dgram *g = datagram(t, k->src_hi, k->src_lo, k->dst_hi, k->dst_lo, k->proto, k->ipid);
    if (!g) return -1;
    g->tunnel = true;
    g->seen = k->ts;
    t->inside_tunnels += (int64_t)g->nwait;
    t->waiting -= (int64_t)g->nwait;
    g->nwait = 0;
    return 0;
}

static int wait_for_first(nps_frags *t, nps_dgram *g, const nps_row *row) {
    if (g->nwait == g->capwait) {
        size_t cap = g->capwait ? 2 * g->capwait : 4;
        nps_row *w = realloc(g->waiting, cap * sizeof *w);
        if (!w) return -1;
        g->waiting = w;
        g->capwait = cap;
    }
    g->waiting[g->nwait++] = *row;
    t->waiting++;
    return 0;
}

/* Datagrams silent for longer than the timeout (all, if `all`) end: their waiting
 * fragments go to `out`, port-less. */
static int expire(nps_frags *t, double now, bool all, nps_rows *out) {
    nps_dgram *g = t->oldest;
    while (g) {
        nps_dgram *newer = g->newer;
        if (all || now - g->seen > t->timeout) {
            if (g->nwait) {
                t->without_first++;
                for (size_t i = 0; i < g->nwait; i++)
                    if (nps_rows_push(out, &g->waiting[i])) return -1;
            }
            unlink_dgram(t, g);
        }
        g = newer;
    }
    return 0;
}

int nps_frags_expire_all(nps_frags *t, nps_rows *out) { return expire(t, 0, true, out); }

/* A batch's fragments, in order: first fragments and the later fragments of datagrams
 * whose first was seen go to `out` now (with its ports), in order, then the waiting
 * fragments released by a first fragment or by the timeout. */
int nps_frags_process(nps_frags *t, const nps_frag_row *rows, size_t n, nps_rows *out) {
    nps_rows released = {0};
    int rc = -1;
    double last = -1.0 / 0.0;
    t->fragments += (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        const nps_row *r = &rows[i].row;
        if (r->ts > last) last = r->ts;
        nps_dgram *g = datagram(t, r->src_hi, r->src_lo, r->dst_hi, r->dst_lo, r->proto, rows[i].ipid);
        if (!g) goto done;
        g->seen = r->ts;
        if (g->tunnel) {
            t->inside_tunnels++;
        } else if (rows[i].kind == 1) {
            if (nps_rows_push(out, r)) goto done;
            g->first = true;
            g->ports = r->has_ports;
            g->sport = r->sport, g->dport = r->dport;
            for (size_t k = 0; k < g->nwait; k++) {
                nps_row w = g->waiting[k];
                if (g->ports) w.sport = g->sport, w.dport = g->dport, w.has_ports = true;
                if (nps_rows_push(&released, &w)) goto done;
            }
            t->waiting -= (int64_t)g->nwait;
            g->nwait = 0;
        } else if (g->first) {
            nps_row w = *r;
            if (g->ports) w.sport = g->sport, w.dport = g->dport, w.has_ports = true;
            if (nps_rows_push(out, &w)) goto done;
        } else if (wait_for_first(t, g, r)) {
            goto done;
        }
    }
    if (t->count > MAX_DATAGRAMS || t->waiting > MAX_WAITING) {
        /* A fragment flood must not exhaust memory: give up matching, keep counting. */
        if (expire(t, 0, true, &released)) goto done;
    } else if (n && last >= t->next_expiry) {
        if (expire(t, last, false, &released)) goto done;
        t->next_expiry = last + t->timeout / 2;
    }
    for (size_t i = 0; i < released.n; i++)
        if (nps_rows_push(out, &released.items[i])) goto done;
    rc = 0;
done:
    free(released.items);
    return rc;
}
