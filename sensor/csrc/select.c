/* Which packets discovery dissects: a few reads per packet, the tables from Python.
 *
 * nps_sensor.discovery.registry builds them from the protocols' declarations: UDP
 * and TCP ports, the signatures a packet chosen by its port must hold (DNS-like
 * protocols' responses only, QUIC client Initials, the SMB, Modbus, S7comm,
 * EtherNet/IP, DNP3 and SSH messages that can name a device), TCP payloads chosen by
 * their first bytes on any port (HTTP, SSH banners, TLS handshakes). Besides those, with state of their own:
 *
 * - a sender's first SYN and first SYN+ACK of a window, for its TCP fingerprint;
 * - a message its sender already sent this window is skipped, so never handed to Python:
 *   a resolver's answer to a question it already answered, an HTTP message by the key of
 *   nps_sensor.discovery.dissectors.http.repeat, a UDP message by its protocol's declared
 *   repeat (a Payload: spans of its bytes). This drops only what the dispatcher's own
 *   check would (a 64-bit hash's collisions aside), which runs only once a window's
 *   picks could have filled the set (Discoverer.core_limit);
 * - the segments that continue a ClientHello cut by its segment's end, found by their
 *   sequence number among the batch's segments, up to HELLO_SEGMENTS of them;
 * - ICMPv6 router and neighbour discovery, LLDP frames and CDP's SNAP header.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

enum { TCP = 6, UDP = 17, ICMPV6 = 58 };
#define LLDP_ETHERTYPE 0x88CCu
#define CDP_SNAP 0xAAAA0300000C2000ull
#define CLIENT_HELLO 1
#define HELLO_SEGMENTS 6
#define QUESTION 64
#define DNS_SALT 0x5A17D0E500000001ull
#define REPEAT_SALT 0x7E9EA7ED00000002ull
#define HTTP_AFTER_LINE 1024

int nps_grow(void **items, size_t *cap, size_t size) {
    size_t n = *cap ? 2 * *cap : 256;
    void *p = realloc(*items, n * size);
    if (!p) return -1;
    *items = p;
    *cap = n;
    return 0;
}

static uint32_t field(const nps_pkt *d, int64_t at, int width) {
    return width == 1 ? nps_u8(d, at) : width == 2 ? nps_be16(d, at) : nps_be32(d, at);
}

bool nps_sig_match(const nps_sig *s, const nps_pkt *d, int64_t body, int64_t end) {
    if (!s->nalts) return true;
    int64_t room = end - body;
    /* The payload's first 8 bytes as a word, read at the first alternative with room
     * for its tests: most alternatives are refused by their head (nps_alt.head_mask)
     * in one compare, not by their tests' reads one by one (discovery's cost, issue 18:
     * HTTP's nine methods on every payload whose first byte opens one, SMB's four
     * headers on its file transfers). The tests still decide. */
    int word = -1; /* not read yet; 0: fewer than 8 bytes in room and frame */
    uint64_t w = 0;
    for (int a = 0; a < s->nalts; a++) {
        const nps_alt *alt = &s->alts[a];
        if (room < alt->min_room) continue;
        if (word < 0) {
            word = room >= HEAD_BYTES && body >= d->start && body + HEAD_BYTES <= d->end;
            if (word) { /* [body, body + 8) lies inside the frame: read in place */
                memcpy(&w, d->buf + body, sizeof w);
                w = __builtin_bswap64(w);
            }
        }
        if (word && (w & alt->head_mask) != alt->head_value) continue;
        bool ok = true;
        for (int t = 0; t < alt->ntests && ok; t++) {
            const nps_test *x = &alt->tests[t];
            if (x->offset + x->width > room) {
                ok = false;
                break;
            }
            uint32_t v = field(d, body + x->offset, x->width) & x->mask;
            ok = x->op == T_EQ ? v == x->value : v < x->value;
        }
        if (ok) return true;
    }
    return false;
}

static int pick(nps_engine *e, const nps_pkt *d, uint32_t pos, double ts, uint8_t kind, int64_t body, int64_t end) {
    nps_pick p = {
        .pos = pos, .kind = kind, .ts = ts, .start = d->l3, .l4 = d->l4, .body = body, .end = end,
        .src_hi = d->src_hi, .src_lo = d->src_lo, .dst_hi = d->dst_hi, .dst_lo = d->dst_lo,
        .smac = nps_src_mac(d), .dmac = nps_dst_mac(d), .sport = d->sport, .dport = d->dport,
        .proto = d->proto, .link = false,
    };
    e->stats.selected++;
    return PUSH(e->picks, p);
}

/* Seen this window? If not, remembered (while the set has room). */
static bool seen(nps_engine *e, uint64_t h) {
    if (nps_set_has(&e->repeat_seen, h)) return true;
    nps_set_add(&e->repeat_seen, h);
    return false;
}

/* A response to a question this resolver already answered this window? (The question:
 * a name never compressed there, then type and class, read as up to QUESTION bytes.) */
static bool answered(nps_engine *e, const nps_pkt *d, int64_t body, int64_t end) {
    int64_t at = body + 12, room = end - at;
    int64_t limit = room < QUESTION ? room : QUESTION;
    if (limit <= 0 || at < d->start || at + limit > d->end) return false; /* (end <= d->end: never) */
    /* [at, at + limit) lies inside the frame: read in place. */
    const uint8_t *q = d->buf + at;
    const uint8_t *nul = memchr(q, 0, (size_t)limit);
    int64_t zero = nul ? nul - q : -1;
    if (zero < 0 || zero + 5 > limit) return false; /* longer: the dissector's own check */
    int64_t qlen = zero + 5;
    uint64_t h = nps_hash2(nps_hash2(nps_mix(d->src_hi), d->src_lo), (uint64_t)qlen);
    for (int64_t i = 0; i < qlen; i += 8) {
        uint64_t w = 0;
        if (i + 8 <= qlen) { /* 8 bytes big-endian in one read, not a byte at a time */
            memcpy(&w, q + i, sizeof w);
            w = __builtin_bswap64(w);
        } else {
            for (int64_t j = i; j < i + 8; j++) w = w << 8 | (j < qlen ? q[j] : 0);
        }
        h = nps_hash2(h, w);
    }
    h ^= DNS_SALT;
    return seen(e, h);
}

/* The n bytes at p, 8 at a time, with their count. */
static uint64_t hash_bytes(uint64_t h, const uint8_t *p, int64_t n) {
    h = nps_hash2(h, (uint64_t)n);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = nps_hash2(h, w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, p + i, (size_t)(n - i));
        h = nps_hash2(h, w);
    }
    return h;
}

/* The dispatcher's key starts with the protocol, the sender's address and MAC. */
static uint64_t sender(const nps_pkt *d, uint8_t kind) {
    return nps_hash2(nps_hash2(nps_hash2(nps_mix(REPEAT_SALT ^ kind), d->src_hi), d->src_lo), nps_src_mac(d));
}

/* A UDP message its sender already sent this window, by its protocol's spans (Python's
 * slices: each clipped to the packet's end, empty where it starts past its stop)? */
static bool udp_repeated(nps_engine *e, const nps_pkt *d, uint8_t kind, int64_t body, int64_t end) {
    const nps_repeat *r = &e->sel->udp_repeat[kind];
    uint64_t h = sender(d, kind);
    for (int i = 0; i < r->n; i++) {
        int64_t b = r->spans[i].stop < 0 ? end : body + r->spans[i].stop;
        if (b > end) b = end;
        int64_t a = body + r->spans[i].start;
        if (a > b) a = b;
        h = hash_bytes(h, d->buf + a, b - a);
    }
    return seen(e, h);
}

/* An HTTP message its sender already sent this window (http.repeat): a response by its
 * server's port, a request by the port it went to and what follows its request line. */
static bool http_repeated(nps_engine *e, const nps_pkt *d, int64_t body, int64_t end) {
    const uint8_t *p = d->buf + body;
    int64_t room = end - body; /* 4 or more */
    uint64_t h = sender(d, e->sel->id_http);
    if (room >= 5 && memcmp(p, "HTTP/", 5) == 0) return seen(e, hash_bytes(h, d->buf + d->l4, 2));
    const uint8_t *nl = memchr(p, '\n', (size_t)room);
    int64_t from = nl ? nl - d->buf : body;
    int64_t to = nl && from + HTTP_AFTER_LINE < end ? from + HTTP_AFTER_LINE : end;
    h = hash_bytes(h, d->buf + d->l4 + 2, 2);
    return seen(e, hash_bytes(h, d->buf + from, to - from));
}

static int udp(nps_engine *e, const nps_pkt *d, uint32_t pos, double ts, int64_t end) {
    const nps_selection *s = e->sel;
    uint8_t kind = s->udp_ports[d->dport];
    bool to_port = kind != 0;
    if (!kind) kind = s->udp_ports[d->sport];
    if (!kind) return 0;
    const nps_sig *sig = &s->udp_sig[kind];
    int64_t body = d->l4 + 8;
    if ((sig->to_port && !to_port) || !nps_sig_match(sig, d, body, end)) return 0;
    if ((kind == s->id_dns && answered(e, d, body, end)) ||
        (s->udp_repeat[kind].n && udp_repeated(e, d, kind, body, end))) {
        e->stats.selected++; /* chosen, then found a repeat */
        return 0;
    }
    return pick(e, d, pos, ts, kind, body, end);
}

static uint8_t tcp_payload(nps_engine *e, const nps_pkt *d, int64_t start, int64_t end) {
    const nps_selection *s = e->sel;
    /* most payloads open no signature; the caller saw 4 bytes of room at start */
    uint8_t may = s->magic_first[d->buf[start]];
    for (int m = 0; may; m++, may >>= 1)
        if ((may & 1) && nps_sig_match(&s->magic[m], d, start, end)) return s->magic_id[m];
    uint8_t a = s->tcp_ports[d->dport], b = s->tcp_ports[d->sport];
    uint8_t kind = a > b ? a : b;
    return kind && nps_sig_match(&s->tcp_sig[kind], d, start, end) ? kind : 0;
}

/* Does this TLS record open a ClientHello that goes on past the segment's end? */
static bool cut_hello(const nps_pkt *d, int64_t start, int64_t room) {
    if (room < 6) return false;
    uint32_t x = nps_be32(d, start + 2); /* version's low byte, record length, message type */
    if ((x & 0xFF) != CLIENT_HELLO) return false;
    int64_t record = (x >> 8) & 0xFFFF;
    if (record + 5 > room || room < 9) return true;
    int64_t size = nps_be32(d, start + 5) & 0xFFFFFF; /* a hello may go on in a next record */
    return size + 4 > record;
}

static int tcp(nps_engine *e, const nps_pkt *d, uint32_t pos, double ts, int64_t end) {
    const nps_selection *s = e->sel;
    int64_t start = d->l4 + (int64_t)((d->t1 >> 28) & 0xF) * 4;
    unsigned flags = (d->t1 >> 16) & 0x17;
    uint8_t kind = 0;
    if (flags == 0x02 || flags == 0x12) { /* a sender's first SYN and SYN+ACK of the window */
        uint64_t key = nps_hash2(nps_hash2(nps_mix(d->src_hi), d->src_lo), flags & 0x12);
        if (!nps_set_has(&e->syn_seen, key)) {
            nps_set_add(&e->syn_seen, key);
            kind = s->id_tcp_fingerprint;
        }
    }
    int64_t room = end - start;
    e->tcp_now = ts;
    bool cut = false;
    if (room >= 4) {
        e->tcp_payloads = true;
        uint8_t found = tcp_payload(e, d, start, end);
        if (found) kind = found;
        if (found && found == s->id_http && http_repeated(e, d, start, end)) {
            e->stats.selected++; /* chosen, then found a repeat */
            kind = 0;
        }
        cut = found == s->id_tls && cut_hello(d, start, room);
        e->ncut += cut;
    }
    if (room > 0) {
        nps_tcp_data t = {pos, (uint32_t)d->t0, room, cut};
        if (PUSH(e->tcpdata, t)) return -1;
    }
    return kind ? pick(e, d, pos, ts, kind, start, end) : 0;
}

/* An IP packet that leaves nps_select_ip's fast path (engine.h): chosen or not. */
int nps_select_chosen(nps_engine *e, const nps_pkt *d, uint32_t pos, double ts) {
    int64_t end = d->l3 + d->iplen < d->end ? d->l3 + d->iplen : d->end;
    bool ported = d->has_ports && d->frag == 0;
    if (ported && d->proto == UDP) return udp(e, d, pos, ts, end);
    if (ported && d->proto == TCP) return tcp(e, d, pos, ts, end);
    if (d->proto == ICMPV6 && d->icmptype >= 133 && d->icmptype <= 136 && d->frag == 0)
        return pick(e, d, pos, ts, e->sel->id_ndp, d->l4, end);
    return 0;
}

/* A link-layer frame (state ST_L2): LLDP, or CDP behind its SNAP header. */
int nps_select_link(nps_engine *e, const nps_pkt *d, uint32_t pos, double ts) {
    uint8_t kind = 0;
    if (d->et == LLDP_ETHERTYPE) kind = e->sel->id_lldp;
    else if (d->et == K_LLC && d->p + 8 <= d->end && nps_be64(d, d->p) == CDP_SNAP) kind = e->sel->id_cdp;
    if (!kind) return 0;
    nps_pick p = {
        .pos = pos, .kind = kind, .ts = ts, .start = d->p, .l4 = d->p, .body = kind == e->sel->id_cdp ? d->p + 8 : d->p,
        .end = d->end, .smac = nps_src_mac(d), .dmac = nps_dst_mac(d), .link = true,
    };
    e->stats.selected++;
    return PUSH(e->links, p);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The batch's segments that continue a cut ClientHello (pending from earlier batches,
 * or cut in this one), then the segments after those: chosen for the TLS dissector. */
int nps_select_hellos(nps_engine *e, const uint8_t *buf, const nps_frame *frames, nps_hellos_fn hellos, void *ctx) {
    if (!e->tcp_payloads) return 0;
    uint32_t *pending = NULL, *want = NULL, *next = NULL, *found = NULL;
    size_t npending = 0;
    if (hellos && hellos(ctx, e->tcp_now, e->ncut > 0, &pending, &npending)) return -1;
    int rc = -1;
    size_t nt = e->tcpdata.n, nwant = npending, nfound = 0, capfound = 0;
    if (!npending && !e->ncut) {
        rc = 0;
        goto done;
    }
    want = malloc((npending + nt + 1) * sizeof *want);
    next = malloc((nt + 1) * sizeof *next);
    if (!want || !next) goto done;
    if (npending) memcpy(want, pending, npending * sizeof *want);
    for (size_t i = 0; i < nt; i++) /* this batch's cut hellos: where their next segment starts */
        if (e->tcpdata.items[i].cut) want[nwant++] = e->tcpdata.items[i].seq + (uint32_t)e->tcpdata.items[i].room;
    for (int step = 0; step < HELLO_SEGMENTS && nwant; step++) {
        qsort(want, nwant, sizeof *want, cmp_u32);
        size_t nnext = 0;
        for (size_t i = 0; i < nt; i++) {
            const nps_tcp_data *t = &e->tcpdata.items[i];
            if (!bsearch(&t->seq, want, nwant, sizeof *want, cmp_u32)) continue;
            if (nfound == capfound && nps_grow((void **)&found, &capfound, sizeof *found)) goto done;
            found[nfound++] = t->pos;
            next[nnext++] = t->seq + (uint32_t)t->room;
        }
        memcpy(want, next, nnext * sizeof *want);
        nwant = nnext;
    }
    nps_pkt d;
    /* Chosen as TLS, in packet order with the batch's other choices. */
    if (nfound) qsort(found, nfound, sizeof *found, cmp_u32);
    size_t before = e->picks.n;
    for (size_t i = 0; i < nfound; i++) {
        if (i && found[i] == found[i - 1]) continue;
        nps_pick *have = NULL;
        for (size_t k = 0; k < before; k++)
            if (e->picks.items[k].pos == found[i]) have = &e->picks.items[k];
        nps_decode(&d, buf, &frames[found[i]]);
        int64_t start = d.l4 + (int64_t)((d.t1 >> 28) & 0xF) * 4;
        if (have) {
            have->kind = e->sel->id_tls;
            have->body = start;
            continue;
        }
        int64_t end = d.l3 + d.iplen < d.end ? d.l3 + d.iplen : d.end;
        if (pick(e, &d, found[i], frames[found[i]].ts, e->sel->id_tls, start, end)) goto done;
    }
    if (e->picks.n > before) { /* merge the new ones in packet order */
        nps_pick *p = e->picks.items;
        for (size_t i = before; i < e->picks.n; i++)
            for (size_t k = i; k > 0 && p[k - 1].pos > p[k].pos; k--) {
                nps_pick tmp = p[k];
                p[k] = p[k - 1];
                p[k - 1] = tmp;
            }
    }
    rc = 0;
done:
    free(pending);
    free(want);
    free(next);
    free(found);
    return rc;
}
