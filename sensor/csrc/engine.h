/* The per-batch pipeline: decode, drop copies, count hosts and flows, choose packets. */
#ifndef NPS_ENGINE_H
#define NPS_ENGINE_H

#include "readers.h"
#include "select.h"
#include "tables.h"

typedef struct {
    int64_t packets, bytes, ip_packets, short_l4;
    double first, last;
    int64_t reasons[N_REASONS];
    int64_t encaps[N_ENCAPS];
    int64_t non_ip[65537]; /* by EtherType; [65536]: 802.2 LLC */
    int64_t selected;      /* packets chosen for discovery (repeated DNS answers included) */
} nps_stats;

typedef struct {
    uint32_t pos, seq;
    int64_t room;
    bool cut; /* a ClientHello that goes on past this segment */
} nps_tcp_data;

/* Sequence numbers that continue a ClientHello cut by its segment's end, pending from
 * earlier batches (the TLS dissector's state): called once at the end of a batch with
 * TCP payloads when `cut` (this batch has a cut hello) or hellos may be pending.
 * The sequence numbers are malloc'ed (the caller frees them). Returns -1 on error, 0
 * with *n = 0 when nothing is pending. */
typedef int (*nps_hellos_fn)(void *ctx, double now, bool cut, uint32_t **seqs, size_t *n);

typedef struct {
    nps_roles *roles;
    nps_selection *sel; /* NULL: discovery off */
    bool watch_dns;
    nps_flows flows;
    nps_hosts hosts;
    nps_dedupe dedupe;
    nps_frags frags;
    nps_stats stats;
    nps_set syn_seen, repeat_seen; /* this window's TCP stacks, and messages read (repeats dropped), per sender */
    /* the batch in progress */
    struct { nps_frag_row *items; size_t n, cap; } fragrows;
    struct { nps_dgram_key *items; size_t n, cap; } swallows;
    struct { nps_tcp_data *items; size_t n, cap; } tcpdata;
    struct { nps_pick *items; size_t n, cap; } picks, links;
    struct { int64_t *items; size_t n, cap; } dns; /* start, end pairs of DNS answers */
    nps_rows rows;
    struct { nps_frame *items; size_t n, cap; } batch; /* a source's frames, as they were taken */
    size_t ncut;
    bool tcp_payloads;
    double tcp_now;
} nps_engine;

int nps_engine_init(nps_engine *e, nps_roles *roles, int64_t max_flows, double idle_timeout);
void nps_engine_free(nps_engine *e);
/* Frames [0, n) of `buf` as one batch. */
int nps_engine_batch(nps_engine *e, const uint8_t *buf, const nps_frame *frames, size_t n, nps_hellos_fn hellos,
                     void *ctx);
/* Frames pulled from `src` as one batch, up to the first stamped at or after `stop`
 * (`late`: there is one) or the end of the source's batch; `taken` says how many. */
int nps_engine_run(nps_engine *e, nps_source *src, double stop, nps_hellos_fn hellos, void *ctx, size_t *taken,
                   bool *late);
/* Forget this window's "seen" sets (a harvest); `final` also lets every fragment go. */
int nps_engine_harvest(nps_engine *e, bool final, nps_deltas *flows);

/* select.c */
int nps_select_chosen(nps_engine *e, const nps_pkt *d, uint32_t pos, double ts);
int nps_select_link(nps_engine *e, const nps_pkt *d, uint32_t pos, double ts);
int nps_select_hellos(nps_engine *e, const uint8_t *buf, const nps_frame *frames, nps_hellos_fn hellos, void *ctx);

#define PUSH(vec, x)                                                                   \
    ((vec).n == (vec).cap ? nps_grow((void **)&(vec).items, &(vec).cap, sizeof *(vec).items) : 0) || \
        ((vec).items[(vec).n++] = (x), 0)
int nps_grow(void **items, size_t *cap, size_t size);

/* An IP packet (not a copy): chosen or not.
 *
 * Most packets are TCP segments that are no SYN, whose payload opens no signature
 * (`magic_first`) and whose ports are no dissector's: all select.c's `tcp` does for
 * them is keep their sequence number for cut ClientHellos. That path is taken here,
 * inline in the engine's packet loop, with no call (discovery's cost, issue 18: a
 * call, its saved registers and its arguments were some 10 of its 37 instructions a
 * packet); the rest goes to `nps_select_chosen`. With TLS not declared (id_tls 0),
 * `tcp` looks for a cut hello in every payload, so that case is nps_select_chosen's. */
static inline int nps_select_ip(nps_engine *e, const nps_pkt *d, uint32_t pos, double ts) {
    if (d->proto == 6 && d->has_ports && d->frag == 0) {
        const nps_selection *s = e->sel;
        int64_t end = d->l3 + d->iplen < d->end ? d->l3 + d->iplen : d->end;
        int64_t start = d->l4 + (int64_t)((d->t1 >> 28) & 0xF) * 4;
        unsigned flags = (d->t1 >> 16) & 0x17;
        int64_t room = end - start;
        if (flags != 0x02 && flags != 0x12 && e->tcpdata.n < e->tcpdata.cap && /* growing: nps_select_chosen's */
            (room < 4 || (!s->magic_first[d->buf[start]] && !s->tcp_ports[d->dport] && !s->tcp_ports[d->sport] &&
                          s->id_tls))) {
            e->tcp_now = ts;
            if (room >= 4) e->tcp_payloads = true;
            if (room > 0) e->tcpdata.items[e->tcpdata.n++] = (nps_tcp_data){pos, (uint32_t)d->t0, room, false};
            return 0;
        }
    }
    return nps_select_chosen(e, d, pos, ts);
}

#endif
