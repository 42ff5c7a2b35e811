/* The core's tables: flows, hosts (who sent what), fragments, copies. */
#ifndef NPS_TABLES_H
#define NPS_TABLES_H

#include "core.h"

#include <stdlib.h>
#include <string.h>

/* ---- flows ------------------------------------------------------------------------- */

/* Traffic of one flow since the last report, oriented client -> server (the records a
 * harvest hands over, as bytes: aggregate.c reads them). */
typedef struct {
    uint64_t client_hi, client_lo, server_hi, server_lo;
    int32_t port; /* the server's, -1 for port-less protocols */
    int32_t proto;
    int64_t client_packets, client_bytes, server_packets, server_bytes;
    double first, last;
    int64_t vlan, tunnel;
} nps_delta;

typedef struct {
    uint64_t a_hi, a_lo, b_hi, b_lo, ports, hash; /* endpoints in order, ports and protocol */
} nps_fkey;

typedef struct {
    int64_t pk[2], by[2];   /* sent by [lower, higher] endpoint */
    int64_t rpk[2], rby[2]; /* ... as of the last report */
    double first, last, wfirst;
    int64_t vlan, tunnel;
    bool client_lo, by_handshake;
} nps_flow;

typedef struct {
    nps_delta *items;
    size_t n, cap;
} nps_deltas;

typedef struct {
    nps_fkey *keys;
    nps_flow *rows;
    uint32_t n, cap;
    int32_t *slots;
    uint32_t mask;
    int64_t max_flows;
    double idle_timeout, next_sweep;
    int64_t created, evicted_idle, evicted_full;
    nps_deltas evicted; /* unreported traffic of flows that left the table */
    const nps_roles *roles;
    /* the batch in progress */
    bool added;
    double last_ts;
} nps_flows;

int nps_flows_init(nps_flows *t, const nps_roles *roles, int64_t max_flows, double idle_timeout);
void nps_flows_free(nps_flows *t);
int nps_flows_add(nps_flows *t, const nps_row *row);
int nps_flows_end_batch(nps_flows *t); /* bounds and idle sweep, as after a batch */
int nps_flows_drain(nps_flows *t, nps_deltas *out);
int nps_deltas_push(nps_deltas *d, const nps_delta *x);

/* ---- hosts ------------------------------------------------------------------------- */

typedef struct {
    uint64_t ip_hi, ip_lo, mac; /* mac: UINT64_MAX where the link has none */
    int64_t vlan, tunnel;
    uint64_t hash;
} nps_hkey;

typedef struct {
    int64_t packets, reported;
    double first, last;
    int64_t claimed; /* the MAC claimed the address itself (an ARP request's sender) */
} nps_host;

typedef struct {
    nps_hkey *keys;
    nps_host *rows;
    uint32_t n, cap;
    int32_t *slots;
    uint32_t mask;
} nps_hosts;

int nps_hosts_init(nps_hosts *t);
void nps_hosts_free(nps_hosts *t);
int nps_hosts_observe(nps_hosts *t, double ts, uint64_t hi, uint64_t lo, uint64_t mac, int64_t vlan, int64_t tunnel,
                      bool claims);

/* ---- copies ------------------------------------------------------------------------ */

enum { D_HOP_LIMIT, D_OTHER_PATH, D_IP_ID, D_IDENTICAL, N_DUP_REASONS };
extern const char *const DUP_REASON_NAMES[N_DUP_REASONS];

typedef struct {
    uint64_t hash, path;
    double ts;
    uint32_t prev; /* sequence number of the previous packet in this bucket */
    uint8_t ttl;
} nps_seen;

typedef struct {
    nps_seen *ring;  /* the last RING packets */
    uint32_t *heads; /* bucket -> sequence number of its latest packet + 1 (0: none) */
    uint32_t seq;    /* packets entered so far */
    double window, identical_window;
    int64_t reasons[N_DUP_REASONS];
} nps_dedupe;

int nps_dedupe_init(nps_dedupe *t);
void nps_dedupe_free(nps_dedupe *t);
uint64_t nps_dedupe_hash(const nps_pkt *d); /* an IP packet's key for the check */
void nps_dedupe_prefetch_head(const nps_dedupe *t, uint64_t h);
void nps_dedupe_prefetch_slot(const nps_dedupe *t, uint64_t h);
bool nps_dedupe_copy(nps_dedupe *t, const nps_pkt *d, uint64_t h, double ts); /* h: nps_dedupe_hash(d) */

/* ---- fragments --------------------------------------------------------------------- */

typedef struct {
    nps_row row;
    uint8_t kind;  /* 1 first fragment, 2 later one */
    uint32_t ipid;
} nps_frag_row;

typedef struct nps_dgram nps_dgram;

typedef struct {
    nps_dgram **slots;
    uint32_t mask, count;
    nps_dgram *oldest, *newest; /* in order of creation */
    int64_t waiting;            /* rows held, all datagrams */
    double next_expiry, timeout;
    int64_t fragments, datagrams, without_first, inside_tunnels;
} nps_frags;

typedef struct {
    nps_row *items;
    size_t n, cap;
} nps_rows;

int nps_frags_init(nps_frags *t);
void nps_frags_free(nps_frags *t);
int nps_frags_swallow(nps_frags *t, const nps_dgram_key *k);
/* A batch's fragments, in order: the rows to count now go to `out` (see frags.c). */
int nps_frags_process(nps_frags *t, const nps_frag_row *rows, size_t n, nps_rows *out);
int nps_frags_expire_all(nps_frags *t, nps_rows *out);
int nps_rows_push(nps_rows *r, const nps_row *x);

/* ---- the open-addressing index both the flow and the host tables keep ---------------- */

/* Index rows 0..n-1 (whose hashes are `stride` bytes apart from `hash0`) in a fresh table
 * of `slots` (a power of two) with linear probing; -1 marks a free slot. The old index
 * is freed once the new one exists, so a failed allocation leaves the table as it was. */
static inline int nps_index_rows(int32_t **index, uint32_t *mask, const uint64_t *hash0, size_t stride,
                                 uint32_t n, uint32_t slots) {
    int32_t *s = malloc((size_t)slots * sizeof *s);
    if (!s) return -1;
    memset(s, 0xFF, (size_t)slots * sizeof *s);
    free(*index);
    *index = s;
    *mask = slots - 1;
    for (uint32_t r = 0; r < n; r++) {
        uint64_t hash = *(const uint64_t *)((const char *)hash0 + (size_t)r * stride);
        uint32_t i = (uint32_t)hash & *mask;
        while (s[i] >= 0) i = (i + 1) & *mask;
        s[i] = (int32_t)r;
    }
    return 0;
}

#endif
