/* Which packets discovery dissects (nps_sensor.discovery.registry builds the tables from the protocols' declarations). */
#ifndef NPS_SELECT_H
#define NPS_SELECT_H

#include "core.h"

/* A test of payload bytes: (the big-endian field of `width` bytes at `offset` & mask)
 * equals / is less than `value`. An alternative holds when the payload has `min_room`
 * bytes and every test holds; a signature when one of its alternatives does. */
enum { T_EQ, T_LT };
typedef struct {
    int32_t offset;
    uint8_t width, op;
    uint32_t mask, value;
} nps_test;

#define MAX_TESTS 6
#define HEAD_BYTES 8 /* an alternative's head: its tests on the payload's first 8 bytes */
#define MAX_ALTS 12
typedef struct {
    int32_t min_room;
    uint8_t ntests;
    nps_test tests[MAX_TESTS];
    /* What its equality tests within the first 8 bytes ask of them, as one word:
     * (word & head_mask) == head_value holds wherever the alternative does, so a
     * payload that fails it is refused by one compare (nps_sig_match). */
    uint64_t head_mask, head_value;
} nps_alt;

typedef struct {
    uint8_t nalts; /* 0: every packet matches */
    bool to_port;  /* only packets sent to the dissector's port */
    nps_alt alts[MAX_ALTS];
} nps_sig;

/* A protocol's repeat key (protocol.Payload): the payload's bytes in these spans, from
 * its first byte; stop -1 for its end. */
#define MAX_SPANS 4
typedef struct {
    int32_t start, stop;
} nps_span;

typedef struct {
    uint8_t n; /* 0: the core does not look for this protocol's repeats */
    nps_span spans[MAX_SPANS];
} nps_repeat;

#define MAX_DISSECTORS 64
#define MAX_MAGIC 8
typedef struct {
    uint8_t udp_ports[65536], tcp_ports[65536]; /* port -> dissector id, 0 none */
    nps_sig udp_sig[MAX_DISSECTORS], tcp_sig[MAX_DISSECTORS]; /* what a packet chosen by its port must hold */
    uint8_t nmagic;
    uint8_t magic_id[MAX_MAGIC]; /* TCP payloads chosen by their first bytes, whatever the port */
    nps_sig magic[MAX_MAGIC];
    uint8_t magic_first[256]; /* payload's first byte -> the magic signatures (bit m) it may open */
    nps_repeat udp_repeat[MAX_DISSECTORS]; /* a UDP message's key, for a repeat dropped here */
    /* Dissectors the core treats apart. */
    uint8_t id_tcp_fingerprint, id_tls, id_dns, id_http, id_ndp, id_lldp, id_cdp;
} nps_selection;

/* A chosen packet (module.c makes the dissectors' Packet from it). */
typedef struct {
    uint32_t pos; /* in the batch */
    uint8_t kind;
    double ts;
    int64_t start, l4, body, end; /* offsets in the buffer */
    uint64_t src_hi, src_lo, dst_hi, dst_lo, smac, dmac;
    uint16_t sport, dport;
    uint8_t proto;
    bool link;
} nps_pick;

bool nps_sig_match(const nps_sig *s, const nps_pkt *d, int64_t body, int64_t end);

#endif
