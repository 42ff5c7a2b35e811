/* Who is a flow's client (the rules of nps_sensor/roles.py, whose tables these are),
 * what an address is, and the bounded key sets discovery's selection keeps. */
#include "core.h"

#include <stdlib.h>

enum { TCP = 6, UDP = 17, ICMP = 1, ICMPV6 = 58, SYN = 0x02, ACK = 0x10 };
enum { SENDER_IS_SERVER = 0, SENDER_IS_CLIENT = 1 };

/* Rule 5: what a protocol with one port on both sides says of its sender, or -1. */
static int payload_role(const nps_roles *r, const nps_row *row) {
    if (row->sport != row->dport || row->proto != UDP) return -1;
    unsigned kind = r->same_port[row->sport];
    if (!kind || kind >= N_SAME_PORT_KINDS) return -1;
    int64_t size = (int64_t)((row->t0 >> 16) & 0xFFFF) - 8; /* UDP payload bytes */
    if (size < r->min_payload[kind]) return -1;
    uint8_t payload[8]; /* its first 8 bytes, in order */
    for (int i = 0; i < 8; i++) payload[i] = (uint8_t)(row->t1 >> (56 - 8 * i));
    unsigned key = payload[r->key_byte[kind] & 7] | r->key_bit[kind][payload[1]];
    return r->role[kind][key & 511];
}

/* The rules of roles.py, from the weakest to the strongest, each over the weaker. */
bool nps_client_is_sender(const nps_roles *r, const nps_row *row) {
    bool decided = true;
    if (row->has_ports) {
        uint8_t wk_s = r->well_known[row->sport], wk_d = r->well_known[row->dport];
        decided = wk_d != wk_s ? wk_d : row->dport <= row->sport;
    }
    int role = payload_role(r, row);
    if (role >= 0) decided = role == SENDER_IS_CLIENT;
    if (nps_is_group(row->dst_hi, row->dst_lo)) decided = true;
    bool from_client = r->pair_client[row->sport] & r->pair_server[row->dport];
    bool from_server = r->pair_server[row->sport] & r->pair_client[row->dport];
    if (from_client) decided = true;
    else if (from_server) decided = false;
    int icmp_row = row->proto == ICMP ? 1 : row->proto == ICMPV6 ? 2 : 0;
    int type = row->icmptype < 0 ? 0 : row->icmptype > 255 ? 255 : row->icmptype;
    role = r->icmp_role[icmp_row][type];
    if (role >= 0) decided = role == SENDER_IS_CLIENT;
    if (row->proto == TCP && (row->tcpflags & SYN)) decided = !(row->tcpflags & ACK);
    return decided;
}

/* ---- bounded sets of 64-bit keys --------------------------------------------------- */

int nps_set_init(nps_set *s, uint32_t limit) {
    uint32_t slots = 64;
    while (slots < 2 * limit) slots <<= 1;
    s->slots = calloc(slots, sizeof *s->slots);
    if (!s->slots) return -1;
    s->mask = slots - 1;
    s->used = 0;
    s->limit = limit;
    return 0;
}

void nps_set_free(nps_set *s) {
    free(s->slots);
    s->slots = NULL;
}

void nps_set_clear(nps_set *s) {
    if (!s->used) return;
    for (uint32_t i = 0; i <= s->mask; i++) s->slots[i] = 0;
    s->used = 0;
}

bool nps_set_has(const nps_set *s, uint64_t key) {
    key = key ? key : 1;
    for (uint32_t i = (uint32_t)nps_mix(key) & s->mask;; i = (i + 1) & s->mask) {
        if (s->slots[i] == key) return true;
        if (!s->slots[i]) return false;
    }
}

bool nps_set_add(nps_set *s, uint64_t key) {
    key = key ? key : 1;
    uint32_t i = (uint32_t)nps_mix(key) & s->mask;
    for (; s->slots[i]; i = (i + 1) & s->mask)
        if (s->slots[i] == key) return true;
    if (s->used >= s->limit) return false;
    s->slots[i] = key;
    s->used++;
    return true;
}
