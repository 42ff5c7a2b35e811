/* Capture buffers as frames: the record chains of libpcap and pcapng files (mapped in
 * memory) and the packets of a TPACKET_V3 ring block, read in place. Every length
 * from the file is checked against the buffer before anything is read past it; a walk
 * stops at the first damage and says where (nps_sensor.capture words it). */
#include "readers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int nps_frames_push(nps_frames *f, const nps_frame *x) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 1024;
        nps_frame *items = realloc(f->items, cap * sizeof *items);
        if (!items) return -1;
        f->items = items;
        f->cap = cap;
    }
    f->items[f->n++] = *x;
    return 0;
}

static inline uint32_t rd32(const uint8_t *buf, int64_t size, int64_t at, bool big) {
    if (at < 0 || at + 4 > size) return 0;
    const uint8_t *b = buf + at;
    return big ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]
               : (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static inline uint16_t rd16(const uint8_t *buf, int64_t size, int64_t at, bool big) {
    if (at < 0 || at + 2 > size) return 0;
    const uint8_t *b = buf + at;
    return big ? (uint16_t)(b[0] << 8 | b[1]) : (uint16_t)(b[1] << 8 | b[0]);
}

static int damage(nps_damage *d, int kind, int64_t at, int64_t value) {
    d->kind = kind;
    d->at = at;
    d->value = value;
    return 0;
}

/* ---- libpcap ---------------------------------------------------------------------- */

void nps_source_pcap(nps_source *s, bool big, double unit, int rec_len, uint32_t linktype, int64_t limit) {
    s->kind = SRC_PCAP;
    s->big = big, s->unit = unit, s->rec_len = rec_len, s->linktype = linktype, s->limit = limit;
}

static int pcap_next(nps_source *s) {
    int64_t at = s->pos, size = s->size;
    const uint8_t *buf = s->buf;
    if (at > size - s->rec_len) {
        if (at < size) damage(&s->dmg, DMG_PCAP_TRUNCATED_HEADER, at, 0);
        return 0;
    }
    int64_t cap = rd32(buf, size, at + 8, s->big);
    if (cap > s->limit) return damage(&s->dmg, DMG_PCAP_CORRUPT_RECORD, at, cap);
    int64_t next = at + s->rec_len + cap;
    if (next > size) return damage(&s->dmg, DMG_PCAP_TRUNCATED_RECORD, at, s->done + 1);
    s->pending = (nps_frame){
        .off = at + s->rec_len,
        .caplen = (uint32_t)cap,
        .wirelen = rd32(buf, size, at + 12, s->big),
        .ts = (double)rd32(buf, size, at, s->big) + (double)rd32(buf, size, at + 4, s->big) * s->unit,
        .linktype = s->linktype,
        .iface = 0,
    };
    s->next = next;
    return 1;
}

/* ---- pcapng ----------------------------------------------------------------------- */

enum { SHB = 0x0A0D0D0A, IDB = 1, OPB = 2, SPB = 3, EPB = 6 };
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
enum { OPT_TSRESOL = 9, OPT_TSOFFSET = 14 };

void nps_source_pcapng(nps_source *s) { s->kind = SRC_PCAPNG; }

static int interface(nps_source *r, int64_t off, int64_t blen) {
    const uint8_t *buf = r->buf;
    int64_t size = r->size;
    nps_ng_iface i = {rd16(buf, size, off + 8, r->big), 1e-6, 0.0};
    int64_t pos = off + 16, end = off + blen - 4;
    while (pos + 4 <= end) {
        unsigned code = rd16(buf, size, pos, r->big), length = rd16(buf, size, pos + 2, r->big);
        if (code == 0) break;
        int64_t value = pos + 4;
        if (value + length > end) break;
        if (code == OPT_TSRESOL && length >= 1) {
            unsigned v = buf[value];
            i.unit = (v & 0x80) ? pow(2.0, -(double)(v & 0x7F)) : pow(10.0, -(double)v);
        } else if (code == OPT_TSOFFSET && length >= 8) {
            uint64_t hi = rd32(buf, size, value + (r->big ? 0 : 4), r->big);
            uint64_t lo = rd32(buf, size, value + (r->big ? 4 : 0), r->big);
            i.offset = (double)(int64_t)(hi << 32 | lo);
        }
        pos = value + ((length + 3) & ~3u);
    }
    if (r->nif == r->capif) {
        uint32_t cap = r->capif ? 2 * r->capif : 8;
        nps_ng_iface *p = realloc(r->ifaces, cap * sizeof *p);
        if (!p) return -1;
        r->ifaces = p;
        r->capif = cap;
    }
    r->ifaces[r->nif++] = i;
    return 0;
}

static int packet(nps_source *r, int64_t blk, int64_t blen, uint32_t type) {
    const uint8_t *buf = r->buf;
    int64_t size = r->size, local, cap, wire, data;
    uint64_t raw = 0;
    if (type == SPB) {
        local = 0;
        wire = rd32(buf, size, blk + 8, r->big);
        cap = wire < blen - 16 ? wire : blen - 16;
        if (cap < 0) cap = 0;
        data = blk + 12;
    } else {
        local = type == EPB ? rd32(buf, size, blk + 8, r->big) : rd16(buf, size, blk + 8, r->big);
        raw = (uint64_t)rd32(buf, size, blk + 12, r->big) << 32 | rd32(buf, size, blk + 16, r->big);
        cap = rd32(buf, size, blk + 20, r->big);
        wire = rd32(buf, size, blk + 24, r->big);
        data = blk + 28;
    }
    if (local >= (int64_t)(r->nif - r->base) || cap > blen - (data - blk) - 4)
        return damage(&r->dmg, DMG_NG_PACKET, blk, 0);
    const nps_ng_iface *i = &r->ifaces[r->base + local];
    r->pending = (nps_frame){
        .off = data,
        .caplen = (uint32_t)cap,
        .wirelen = (uint32_t)wire,
        .ts = type == SPB ? 0.0 : (double)raw * i->unit + i->offset,
        .linktype = i->linktype,
        .iface = (uint32_t)(r->base + local),
    };
    r->next = blk + blen;
    r->run_type = type;
    return 1;
}

static int pcapng_next(nps_source *r) {
    const uint8_t *buf = r->buf;
    int64_t size = r->size;
    while (r->pos + 12 <= size) {
        int64_t off = r->pos;
        uint32_t type = rd32(buf, size, off, r->big);
        if (type == SHB) {
            if (r->taken) return 0; /* a section ends the batch */
            if (off + 16 > size) return damage(&r->dmg, DMG_NG_TRUNCATED_SECTION, off, 0);
            uint32_t bom = rd32(buf, size, off + 8, false);
            if (bom == BYTE_ORDER_MAGIC) r->big = false;
            else if (bom == 0x4D3C2B1Au) r->big = true;
            else return damage(&r->dmg, DMG_NG_BYTE_ORDER, off, 0);
            r->base = r->nif;
        }
        int64_t blen = rd32(buf, size, off + 4, r->big);
        if (blen < 12 || blen % 4) return damage(&r->dmg, DMG_NG_BLOCK_LENGTH, off, blen);
        if (off + blen > size) return damage(&r->dmg, DMG_NG_TRUNCATED_BLOCK, off, 0);
        if (type == EPB || type == SPB || type == OPB) {
            if (r->taken && type != r->run_type) return 0; /* a batch is of one block type */
            return packet(r, off, blen, type);
        }
        if (type == IDB && interface(r, off, blen)) return -1;
        r->pos = off + blen;
    }
    if (r->pos < size) damage(&r->dmg, DMG_NG_TRUNCATED_HEADER, r->pos, 0);
    return 0;
}

/* ---- the batch ------------------------------------------------------------------------ */

void nps_source_free(nps_source *s) {
    free(s->ifaces);
    s->ifaces = NULL;
    s->nif = s->capif = 0;
}

void nps_source_begin(nps_source *s, size_t budget) {
    s->budget = budget;
    s->taken = 0;
}

int nps_source_peek(nps_source *s, const nps_frame **f) {
    if (s->have) {
        *f = &s->pending;
        return 1;
    }
    if (s->taken >= s->budget || s->dmg.kind) return 0;
    int r = s->kind == SRC_PCAP ? pcap_next(s) : pcapng_next(s);
    if (r == 1) {
        s->have = true;
        *f = &s->pending;
    }
    return r;
}

void nps_source_take(nps_source *s) {
    s->have = false;
    s->pos = s->next;
    s->taken++;
    s->done++;
    /* The next record's header and the first lines of its frame, while this one is decoded. */
    if (s->pos + 192 <= s->size) {
        __builtin_prefetch(s->buf + s->pos);
        __builtin_prefetch(s->buf + s->pos + 64);
        __builtin_prefetch(s->buf + s->pos + 128);
    }
}

/* ---- TPACKET_V3 ----------------------------------------------------------------------- */

/* struct tpacket_block_desc / tpacket_hdr_v1 and struct tpacket3_hdr offsets */
enum { BLOCK_FIRST = 16, PKT_NEXT = 0, PKT_SEC = 4, PKT_NSEC = 8, PKT_SNAPLEN = 12, PKT_LEN = 16,
       PKT_STATUS = 20, PKT_MAC = 24, PKT_VLAN_TCI = 32, PKT_VLAN_TPID = 36, PKT_HDR = 48 };
#define TP_STATUS_VLAN_VALID (1u << 4)
#define TP_STATUS_VLAN_TPID_VALID (1u << 6)
#define VLAN_TAG_LEN 4

/* The kernel writes the ring in the machine's own byte order. */
static uint32_t n32(const uint8_t *buf, int64_t size, int64_t at) {
    uint32_t v = 0;
    if (at >= 0 && at + 4 <= size) memcpy(&v, buf + at, 4);
    return v;
}
static uint16_t n16(const uint8_t *buf, int64_t size, int64_t at) {
    uint16_t v = 0;
    if (at >= 0 && at + 2 <= size) memcpy(&v, buf + at, 2);
    return v;
}

int nps_tpacket_block(uint8_t *buf, int64_t size, int64_t base, int64_t block_size, uint32_t count, uint32_t iface,
                      nps_frames *out) {
    int64_t end = base + block_size;
    if (base < 0 || end > size) return 0;
    int64_t pos = base + n32(buf, size, base + BLOCK_FIRST);
    for (uint32_t k = 0; k < count; k++) {
        if (pos < base || pos + PKT_HDR > end) break; /* the kernel never does this; a bound all the same */
        uint32_t status = n32(buf, size, pos + PKT_STATUS);
        int64_t off = pos + n16(buf, size, pos + PKT_MAC);
        int64_t cap = n32(buf, size, pos + PKT_SNAPLEN), wire = n32(buf, size, pos + PKT_LEN);
        if (off + cap > end) break;
        if ((status & TP_STATUS_VLAN_VALID) && off - VLAN_TAG_LEN >= pos + PKT_HDR && cap >= 12) {
            /* The tag goes back behind the two MAC addresses, as libpcap does (the socket
             * reserved the room in front of each frame). */
            uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) ? n16(buf, size, pos + PKT_VLAN_TPID) : 0x8100;
            uint16_t tci = (uint16_t)n32(buf, size, pos + PKT_VLAN_TCI);
            memmove(buf + off - VLAN_TAG_LEN, buf + off, 12);
            uint8_t *tag = buf + off + 12 - VLAN_TAG_LEN;
            tag[0] = tpid >> 8, tag[1] = tpid & 0xFF, tag[2] = tci >> 8, tag[3] = tci & 0xFF;
            off -= VLAN_TAG_LEN, cap += VLAN_TAG_LEN, wire += VLAN_TAG_LEN;
        }
        nps_frame f = {
            .off = off,
            .caplen = (uint32_t)cap,
            .wirelen = (uint32_t)wire,
            .ts = (double)n32(buf, size, pos + PKT_SEC) + (double)n32(buf, size, pos + PKT_NSEC) * 1e-9,
            .linktype = 1,
            .iface = iface,
        };
        if (nps_frames_push(out, &f)) return -1;
        uint32_t next = n32(buf, size, pos + PKT_NEXT);
        if (!next) break;
        pos += next;
    }
    return 0;
}
