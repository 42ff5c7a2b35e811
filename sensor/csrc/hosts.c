/* Who sent what: every (source IP, source MAC, VLAN, tunnel) seen, with counts and times.
 *
 * A pair seen on several VLANs or tunnels (routed traffic mirrored on both sides of its
 * router) has a row for each, so that the report names every VLAN it was on. Only
 * senders are devices: group and unspecified sources are left out here. A row remembers
 * whether the MAC claimed the address itself (ARP: engine.c), which binds the two as
 * DHCP or NDP would (nps_sensor.report.traffic.add_hosts). Rows are dense
 * with an open-addressing index, like the flows'; the table only grows (a network's
 * senders are few beside its flows).
 */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

static int index_rows(nps_hosts *t, uint32_t slots) {
    return nps_index_rows(&t->slots, &t->mask, t->n ? &t->keys[0].hash : NULL, sizeof *t->keys, t->n, slots);
}

static int grow(nps_hosts *t) {
    uint32_t cap = t->cap ? 2 * t->cap : 1u << (NPS_TABLE_BITS - 2);
    nps_hkey *keys = realloc(t->keys, (size_t)cap * sizeof *keys);
    if (!keys) return -1;
    t->keys = keys;
    nps_host *rows = realloc(t->rows, (size_t)cap * sizeof *rows);
    if (!rows) return -1;
    t->rows = rows;
    t->cap = cap;
    return index_rows(t, 4 * cap);
}

int nps_hosts_init(nps_hosts *t) {
    memset(t, 0, sizeof *t);
    return grow(t);
}

void nps_hosts_free(nps_hosts *t) {
    free(t->keys);
    free(t->rows);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

int nps_hosts_observe(nps_hosts *t, double ts, uint64_t hi, uint64_t lo, uint64_t mac, int64_t vlan, int64_t tunnel,
                      bool claims) {
    if (nps_is_unspecified(hi, lo) || nps_is_group(hi, lo)) return 0;
    nps_hkey k = {hi, lo, mac, vlan, tunnel, 0};
    /* Two rounds of mixing, not four: the key is compared whole, the hash only spreads it. */
    uint64_t where = ((uint64_t)vlan << 32 ^ (uint64_t)tunnel) * 0x9E3779B97F4A7C15ull;
    k.hash = nps_hash2(nps_mix(lo ^ hi * 0xC2B2AE3D27D4EB4Full ^ where), mac);
    uint32_t i = (uint32_t)k.hash & t->mask;
    int32_t r;
    while ((r = t->slots[i]) >= 0) {
        const nps_hkey *o = &t->keys[r];
        if (o->hash == k.hash && o->ip_lo == lo && o->mac == mac && o->ip_hi == hi && o->vlan == vlan &&
            o->tunnel == tunnel)
            break;
        i = (i + 1) & t->mask;
    }
    if (r < 0) {
        if (t->n == t->cap) {
            if (grow(t)) return -1;
            i = (uint32_t)k.hash & t->mask;
            while (t->slots[i] >= 0) i = (i + 1) & t->mask;
        }
        r = (int32_t)t->n++;
        t->slots[i] = r;
        t->keys[r] = k;
        t->rows[r] = (nps_host){0, 0, ts, 0.0, 0};
    }
    nps_host *h = &t->rows[r];
    h->packets++;
    h->claimed |= claims;
    /* The earliest packet, whatever the order of the batch. */
    if (ts < h->first) h->first = ts;
    if (ts > h->last) h->last = ts;
    return 0;
}
