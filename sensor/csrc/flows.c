/* Bidirectional flows keyed by the normalised 5-tuple, with per-direction counters.
 *
 * A key orders its two endpoints (address, port) so that both directions land on one
 * row; `client_lo` says which endpoint is the client, decided by the flow's first
 * packet (roles.c) and once more by a TCP handshake seen later. Bytes are IP-layer
 * bytes, as NetFlow and IPFIX count them. Rows are dense, in order of creation, with
 * an open-addressing index beside them; idle flows are swept and, when the table is
 * full, the least recently active go: their unreported counts wait in `evicted` for
 * the next report. Sweeps and bounds are applied after each batch, as the window
 * machinery in Python sees batches.
 */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

#define PORTLESS (1ull << 60)
enum { TCP = 6, SYN = 0x02, ACK = 0x10 };

int nps_deltas_push(nps_deltas *d, const nps_delta *x) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 1024;
        nps_delta *items = realloc(d->items, cap * sizeof *items);
        if (!items) return -1;
        d->items = items;
        d->cap = cap;
    }
    d->items[d->n++] = *x;
    return 0;
}

static int index_rows(nps_flows *t, uint32_t slots) {
    return nps_index_rows(&t->slots, &t->mask, t->n ? &t->keys[0].hash : NULL, sizeof *t->keys, t->n, slots);
}

static int grow(nps_flows *t) {
    uint32_t cap = t->cap ? 2 * t->cap : 1u << NPS_TABLE_BITS;
    nps_fkey *keys = realloc(t->keys, (size_t)cap * sizeof *keys);
    if (!keys) return -1;
    t->keys = keys;
    nps_flow *rows = realloc(t->rows, (size_t)cap * sizeof *rows);
    if (!rows) return -1;
    t->rows = rows;
    t->cap = cap;
    return index_rows(t, 4 * cap); /* a load of at most 1/4: short probe chains */
}

int nps_flows_init(nps_flows *t, const nps_roles *roles, int64_t max_flows, double idle_timeout) {
    memset(t, 0, sizeof *t);
    t->roles = roles;
    t->max_flows = max_flows;
    t->idle_timeout = idle_timeout;
    t->next_sweep = -1.0 / 0.0;
    return grow(t);
}

void nps_flows_free(nps_flows *t) {
    free(t->keys);
    free(t->rows);
    free(t->slots);
    free(t->evicted.items);
    memset(t, 0, sizeof *t);
}

static void flow_key(const nps_row *r, nps_fkey *k, int *swap) {
    bool s = r->src_hi > r->dst_hi ||
             (r->src_hi == r->dst_hi && (r->src_lo > r->dst_lo || (r->src_lo == r->dst_lo && r->sport > r->dport)));
    *swap = s;
    k->a_hi = s ? r->dst_hi : r->src_hi;
    k->a_lo = s ? r->dst_lo : r->src_lo;
    k->b_hi = s ? r->src_hi : r->dst_hi;
    k->b_lo = s ? r->src_lo : r->dst_lo;
    uint64_t pa = s ? r->dport : r->sport, pb = s ? r->sport : r->dport;
    k->ports = pa << 24 | pb << 8 | r->proto | (r->has_ports ? 0 : PORTLESS);
    uint64_t h = nps_hash2(nps_hash2(nps_mix(k->a_lo), k->b_lo), k->ports);
    k->hash = nps_hash2(h, k->a_hi ^ nps_mix(k->b_hi));
}

static inline bool same_key(const nps_fkey *a, const nps_fkey *b) {
    return a->hash == b->hash && a->a_lo == b->a_lo && a->b_lo == b->b_lo && a->ports == b->ports &&
           a->a_hi == b->a_hi && a->b_hi == b->b_hi;
}

int nps_flows_add(nps_flows *t, const nps_row *row) {
    nps_fkey k;
    int swap;
    flow_key(row, &k, &swap);
    uint32_t i = (uint32_t)k.hash & t->mask;
    int32_t r;
    while ((r = t->slots[i]) >= 0 && !same_key(&t->keys[r], &k)) i = (i + 1) & t->mask;
    if (r < 0) {
        if (t->n == t->cap) {
            if (grow(t)) return -1;
            i = (uint32_t)k.hash & t->mask;
            while (t->slots[i] >= 0) i = (i + 1) & t->mask;
        }
        r = (int32_t)t->n++;
        t->slots[i] = r;
        t->keys[r] = k;
        nps_flow *f = &t->rows[r];
        memset(f, 0, sizeof *f);
        f->client_lo = nps_client_is_sender(t->roles, row) != swap;
        f->by_handshake = row->proto == TCP && (row->tcpflags & SYN);
        f->first = row->ts;
        f->wfirst = 1.0 / 0.0;
        f->vlan = row->vlan;
        f->tunnel = row->tunnel;
        t->created++;
    }
    nps_flow *f = &t->rows[r];
    /* A flow not yet oriented by a handshake takes the orientation of its first SYN or SYN-ACK. */
    if (row->proto == TCP && (row->tcpflags & SYN) && !f->by_handshake) {
        f->client_lo = (!(row->tcpflags & ACK)) != swap;
        f->by_handshake = true;
    }
    f->pk[swap] += 1;
    f->by[swap] += row->iplen;
    if (row->ts > f->last) f->last = row->ts;
    if (row->ts < f->wfirst) f->wfirst = row->ts;
    t->added = true;
    t->last_ts = row->ts;
    return 0;
}

/* Unreported traffic of row r, oriented client -> server, marked reported. */
static int deltas_of(nps_flows *t, uint32_t r, nps_deltas *out) {
    nps_flow *f = &t->rows[r];
    int64_t dpk0 = f->pk[0] - f->rpk[0], dpk1 = f->pk[1] - f->rpk[1];
    if (dpk0 + dpk1 <= 0) return 0;
    const nps_fkey *k = &t->keys[r];
    int c = f->client_lo ? 0 : 1, s = 1 - c;
    bool portless = k->ports & PORTLESS;
    nps_delta x = {
        .client_hi = f->client_lo ? k->a_hi : k->b_hi,
        .client_lo = f->client_lo ? k->a_lo : k->b_lo,
        .server_hi = f->client_lo ? k->b_hi : k->a_hi,
        .server_lo = f->client_lo ? k->b_lo : k->a_lo,
        .port = portless ? -1 : (int32_t)((k->ports >> (f->client_lo ? 8 : 24)) & 0xFFFF),
        .proto = (int32_t)(k->ports & 0xFF),
        .client_packets = f->pk[c] - f->rpk[c],
        .client_bytes = f->by[c] - f->rby[c],
        .server_packets = f->pk[s] - f->rpk[s],
        .server_bytes = f->by[s] - f->rby[s],
        .first = f->wfirst,
        .last = f->last,
        .vlan = f->vlan,
        .tunnel = f->tunnel,
    };
    memcpy(f->rpk, f->pk, sizeof f->pk);
    memcpy(f->rby, f->by, sizeof f->by);
    f->wfirst = 1.0 / 0.0;
    return nps_deltas_push(out, &x);
}

/* Drop the rows marked in `gone`, keeping their unreported counts and the others' order. */
static int drop(nps_flows *t, const uint8_t *gone) {
    uint32_t k = 0;
    for (uint32_t r = 0; r < t->n; r++) {
        if (gone[r]) {
            if (deltas_of(t, r, &t->evicted)) return -1;
            continue;
        }
        if (k != r) {
            t->keys[k] = t->keys[r];
            t->rows[k] = t->rows[r];
        }
        k++;
    }
    t->n = k;
    return index_rows(t, t->mask + 1);
}

static int sweep(nps_flows *t, double now) {
    double step = t->idle_timeout / 4 < 30.0 ? t->idle_timeout / 4 : 30.0;
    t->next_sweep = now + step;
    double horizon = now - t->idle_timeout;
    uint8_t *gone = calloc(t->n ? t->n : 1, 1);
    if (!gone) return -1;
    int64_t idle = 0;
    for (uint32_t r = 0; r < t->n; r++)
        if (t->rows[r].last < horizon) gone[r] = 1, idle++;
    int rc = 0;
    if (idle) {
        t->evicted_idle += idle;
        rc = drop(t, gone);
    }
    free(gone);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The table is full: the `count` least recently active flows go. */
static int evict_oldest(nps_flows *t, uint32_t count) {
    double *last = malloc((size_t)t->n * sizeof *last);
    uint8_t *gone = calloc(t->n, 1);
    if (!last || !gone) {
        free(last);
        free(gone);
        return -1;
    }
    for (uint32_t r = 0; r < t->n; r++) last[r] = t->rows[r].last;
    qsort(last, t->n, sizeof *last, cmp_double);
    double bound = last[count - 1];
    uint32_t below = 0;
    for (uint32_t r = 0; r < t->n; r++) below += t->rows[r].last < bound;
    uint32_t ties = count - below; /* of those at the bound, the first in table order go */
    for (uint32_t r = 0; r < t->n; r++) {
        double l = t->rows[r].last;
        if (l < bound || (l == bound && ties && ties--)) gone[r] = 1;
    }
    t->evicted_full += count;
    int rc = drop(t, gone);
    free(last);
    free(gone);
    return rc;
}

int nps_flows_end_batch(nps_flows *t) {
    if (!t->added) return 0;
    t->added = false;
    if ((int64_t)t->n > t->max_flows) {
        int64_t keep = (int64_t)((double)t->max_flows * 0.9);
        if (evict_oldest(t, (uint32_t)((int64_t)t->n - keep))) return -1;
    }
    if (t->last_ts >= t->next_sweep) return sweep(t, t->last_ts);
    return 0;
}

int nps_flows_drain(nps_flows *t, nps_deltas *out) {
    for (size_t i = 0; i < t->evicted.n; i++)
        if (nps_deltas_push(out, &t->evicted.items[i])) return -1;
    t->evicted.n = 0;
    for (uint32_t r = 0; r < t->n; r++)
        if (deltas_of(t, r, out)) return -1;
    return 0;
}
