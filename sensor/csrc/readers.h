/* Capture buffers as frames: libpcap files, pcapng files, TPACKET_V3 ring blocks. */
#ifndef NPS_READERS_H
#define NPS_READERS_H

#include "core.h"

typedef struct {
    nps_frame *items;
    size_t n, cap;
} nps_frames;

int nps_frames_push(nps_frames *f, const nps_frame *x);

/* What stopped a walk before the end (Python words it). */
enum {
    DMG_NONE,
    DMG_PCAP_CORRUPT_RECORD,   /* at: record header, value: its length */
    DMG_PCAP_TRUNCATED_RECORD, /* at: record header, value: the record's number (from 1) */
    DMG_PCAP_TRUNCATED_HEADER, /* at: where the partial record header starts */
    DMG_NG_TRUNCATED_SECTION,  /* at: the section header block */
    DMG_NG_BYTE_ORDER,
    DMG_NG_BLOCK_LENGTH,       /* value: the length */
    DMG_NG_TRUNCATED_BLOCK,
    DMG_NG_PACKET,             /* a packet block names an unknown interface or is longer than its block */
    DMG_NG_TRUNCATED_HEADER,
};

typedef struct {
    int kind;
    int64_t at, value;
} nps_damage;

typedef struct {
    uint32_t linktype;
    double unit, offset;
} nps_ng_iface;

/* A capture file as a source of frames, pulled one at a time: the engine decodes each
 * frame as soon as it is read, so that its bytes are fetched from memory once (and the
 * next record's header is prefetched meanwhile). A batch is at most `budget` frames; a
 * pcapng batch also ends where a section starts or the packet block type changes. */
enum { SRC_PCAP, SRC_PCAPNG };
typedef struct {
    int kind;
    const uint8_t *buf;
    int64_t size, pos; /* the next record or block */
    /* pcap */
    bool big;
    double unit;
    int rec_len;
    uint32_t linktype;
    int64_t limit;
    /* pcapng */
    uint32_t base, nif, capif, run_type; /* base: the current section's first interface */
    nps_ng_iface *ifaces;
    /* the batch */
    size_t budget, taken;
    bool have;
    nps_frame pending; /* read, not yet taken */
    int64_t next;      /* where the record after `pending` starts */
    int64_t done;      /* frames taken, all batches */
    nps_damage dmg;
} nps_source;

void nps_source_pcap(nps_source *s, bool big, double unit, int rec_len, uint32_t linktype, int64_t limit);
void nps_source_pcapng(nps_source *s);
void nps_source_free(nps_source *s);
void nps_source_begin(nps_source *s, size_t budget);
/* The next frame of the batch (1), none (0: the batch ended; dmg says if by damage), or -1. */
int nps_source_peek(nps_source *s, const nps_frame **f);
void nps_source_take(nps_source *s);

/* The `count` packets of the TPACKET_V3 block at `base` (block_size bytes); puts the
 * VLAN tags the kernel took out back in front of their frames (buf is writable). */
int nps_tpacket_block(uint8_t *buf, int64_t size, int64_t base, int64_t block_size, uint32_t count, uint32_t iface,
                      nps_frames *out);

#endif
