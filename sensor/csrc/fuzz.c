/* libFuzzer's entry into the core: hostile bytes through the readers and the engine.
 *
 * Built apart from the Python module, with clang and -fsanitize=fuzzer,address,undefined
 * and -DNPS_STRICT (a read outside its frame aborts); tests/sensor/test_fuzz_core.py
 * builds and runs it. The first byte of an input says what the rest is:
 *
 *   0: a pcap file;  1: a pcapng file;  2: a TPACKET_V3 ring block (from the next byte);
 *   3+: frames, each [u16 length][bytes], of link type (first byte - 3) % 8's table
 *       entry, a few microseconds to seconds apart (the second byte), with a harvest
 *       every 64 frames: copies, fragments, idle sweeps and table growth all get fed.
 *
 * Each input gets a fresh engine (a crash replays from its input alone), configured
 * with the tables Python declares (NPS_FUZZ_TABLES: nps_roles then nps_selection, as
 * packetcore.tables_blob writes them; zeros without it). At exit the harness says how many
 * frames it processed.
 */
#include "engine.h"
#include "readers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nps_roles roles;
static nps_selection selection;
static unsigned long long frames_seen;

static void say_count(void) { fprintf(stderr, "fuzzed frames: %llu\n", frames_seen); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *path = getenv("NPS_FUZZ_TABLES");
    if (path) {
        FILE *f = fopen(path, "rb");
        if (!f || fread(&roles, sizeof roles, 1, f) != 1 || fread(&selection, sizeof selection, 1, f) != 1) {
            fprintf(stderr, "fuzz: cannot read the tables from %s\n", path);
            abort();
        }
        fclose(f);
    }
    atexit(say_count);
    return 0;
}

/* The TLS dissector's pending hellos, as a Python one might answer: a few numbers. */
static int hellos(void *ctx, double now, bool cut, uint32_t **seqs, size_t *n) {
    (void)now, (void)cut;
    const uint8_t *seed = ctx;
    *n = seed[0] & 3;
    *seqs = *n ? malloc(*n * sizeof **seqs) : NULL;
    for (size_t i = 0; i < *n; i++) (*seqs)[i] = (uint32_t)seed[i] * 0x01000193u;
    return 0;
}

static void harvest(nps_engine *e, bool final) {
    nps_deltas d = {0};
    if (nps_engine_harvest(e, final, &d)) abort();
    free(d.items);
}

static void file(nps_engine *e, const uint8_t *data, size_t size, bool pcapng) {
    nps_source src = {0};
    src.buf = data;
    src.size = (int64_t)size;
    if (pcapng) {
        nps_source_pcapng(&src);
    } else {
        nps_source_pcap(&src, size > 1 && (data[1] & 1), (size > 1 && (data[1] & 2)) ? 1e-9 : 1e-6,
                        (size > 1 && (data[1] & 4)) ? 24 : 16, size > 2 ? data[2] : 1, 0x4000000);
        src.pos = 24;
    }
    for (int batch = 0; batch < 64; batch++) {
        nps_source_begin(&src, 1 + (size & 63));
        const nps_frame *f;
        if (nps_source_peek(&src, &f) != 1) break;
        double stop = f->ts + (batch & 1 ? 1e-3 : 1e9);
        size_t taken;
        bool late;
        if (nps_engine_run(e, &src, stop, hellos, (void *)data, &taken, &late)) abort();
        frames_seen += taken;
        if (late) harvest(e, false);
    }
    nps_source_free(&src);
}

static void ring_block(nps_engine *e, const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1); /* the core writes VLAN tags back into the ring */
    if (!copy) abort();
    memcpy(copy, data, size);
    nps_frames out = {0};
    if (nps_tpacket_block(copy, (int64_t)size, 0, (int64_t)size, 64, 0, &out)) abort();
    if (nps_engine_batch(e, copy, out.items, out.n, hellos, copy)) abort();
    frames_seen += out.n;
    free(out.items);
    free(copy);
}

static const uint32_t LINKTYPES[8] = {1, 1, 1, 113, 276, 101, 0, 12};

static void frames(nps_engine *e, const uint8_t *data, size_t size) {
    uint32_t linktype = LINKTYPES[(data[0] - 3) % 8];
    double step = size > 1 ? (double)(1u << (data[1] & 31)) * 1e-6 : 1e-3;
    nps_frame batch[64];
    size_t n = 0, at = 2;
    double ts = 1.7e9;
    while (at + 2 <= size) {
        size_t len = (size_t)data[at] << 8 | data[at + 1];
        at += 2;
        if (len > size - at) len = size - at;
        batch[n++] = (nps_frame){(int64_t)at, (uint32_t)len, (uint32_t)len + (data[0] & 0x30), ts, linktype, 0};
        ts += step;
        at += len;
        if (n == 64 || at + 2 > size) {
            if (nps_engine_batch(e, data, batch, n, hellos, (void *)data)) abort();
            frames_seen += n;
            harvest(e, false);
            n = 0;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    nps_engine e;
    if (nps_engine_init(&e, &roles, 64, 30.0)) abort(); /* a small table: evictions too */
    e.sel = &selection;
    e.watch_dns = true;
    e.dedupe.window = 0.01;
    e.dedupe.identical_window = 0.0001;
    if (data[0] == 0 || data[0] == 1) file(&e, data + 1, size - 1, data[0] == 1);
    else if (data[0] == 2) ring_block(&e, data + 1, size - 1);
    else frames(&e, data, size);
    harvest(&e, true);
    nps_engine_free(&e);
    return 0;
}
