/* A TCP SYN's or SYN+ACK's p0f signature in C, for discovery's tcp-fingerprint dissector
 * (discovery/dissectors/tcpfp.py, whose docstring says what the signature is).
 *
 * The dissector built it in Python, a test and an append per quirk and per option, some
 * 35,000 instructions a segment on the bench capture's 602 handshakes (discovery's cost,
 * issue 18). This is the same text, item for item and in the same order; a segment too
 * short for its headers gives None, where the Python read raised. */
#include "pycore.h"

#include <stdio.h>

enum { EOL = 0, NOP = 1, MSS = 2, WS = 3, SOK = 4, SACK = 5, TS = 8 };
enum { F_ACK = 0x10, F_PSH = 0x08, F_URG = 0x20, F_ECE = 0x40, F_CWR = 0x80 };

typedef struct {
    char text[512];
    size_t len;
} list_t; /* comma-separated items */

static void item(list_t *l, const char *s) {
    size_t n = strlen(s);
    if (l->len + n + 2 > sizeof l->text) return; /* cannot happen: at most 40 options */
    if (l->len) l->text[l->len++] = ',';
    memcpy(l->text + l->len, s, n);
    l->len += n;
    l->text[l->len] = 0;
}

static uint32_t be(const uint8_t *p, int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* The options' layout; their MSS and window scale (-1: none), the quirks they show. */
static void options(const uint8_t *o, Py_ssize_t n, bool synack, list_t *layout, list_t *quirks, uint32_t *mss,
                    int *scale) {
    char name[16];
    Py_ssize_t at = 0;
    while (at < n) {
        uint8_t kind = o[at];
        if (kind == EOL) {
            bool any = false;
            for (Py_ssize_t i = at + 1; i < n; i++) any |= o[i] != 0;
            snprintf(name, sizeof name, "eol+%zd", n - at - 1);
            item(layout, name);
            if (any) item(quirks, "opt+");
            break;
        }
        if (kind == NOP) {
            item(layout, "nop");
            at += 1;
            continue;
        }
        if (at + 1 >= n || o[at + 1] < 2 || at + o[at + 1] > n) {
            item(quirks, "bad");
            break;
        }
        uint8_t size = o[at + 1];
        const uint8_t *v = o + at + 2;
        static const char *const known[] = {[NOP] = "nop", [MSS] = "mss", [WS] = "ws", [SOK] = "sok", [SACK] = "sack",
                                            [TS] = "ts"};
        if (kind <= TS && known[kind]) item(layout, known[kind]);
        else {
            snprintf(name, sizeof name, "?%u", kind);
            item(layout, name);
        }
        if (kind == MSS && size == 4) *mss = be(v, 2);
        else if (kind == WS && size == 3) {
            *scale = v[0];
            if (v[0] > 14) item(quirks, "exws");
        } else if (kind == TS && size == 10) {
            if (!be(v, 4)) item(quirks, "ts1-");
            if (!synack && be(v + 4, 4)) item(quirks, "ts2+");
        }
        at += size;
    }
}

/* The IP header's part: version, TTL, options' length, quirks; false if too short. */
static bool ip_part(const uint8_t *d, Py_ssize_t len, int *ver, int *ttl, int *olen, list_t *q, bool *ecn) {
    if (len < 1) return false;
    if (d[0] >> 4 == 4) {
        if (len < 9) return false;
        unsigned tos = d[1], ipid = be(d + 4, 2), frag = be(d + 6, 2);
        *ver = 4, *ttl = d[8], *olen = (d[0] & 0x0F) * 4 - 20;
        if (frag & 0x4000) {
            item(q, "df");
            if (ipid) item(q, "id+");
        } else if (!ipid) item(q, "id-");
        if (tos & 0x03) {
            item(q, "ecn");
            *ecn = true;
        }
        if (frag & 0x8000) item(q, "0+");
        return true;
    }
    if (len < 8) return false;
    *ver = 6, *ttl = d[7], *olen = 0;
    if (d[1] & 0x30) {
        item(q, "ecn");
        *ecn = true;
    }
    if (be(d + 1, 3) & 0xFFFFF) item(q, "flow");
    return true;
}

static int initial_ttl(int ttl) { return ttl <= 32 ? 32 : ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255; }

/* tcp_signature(data, l4) -> (p0f signature, is SYN+ACK), None if too short. */
PyObject *core_tcp_signature(PyObject *Py_UNUSED(m), PyObject *args) {
    Py_buffer view;
    Py_ssize_t t;
    if (!PyArg_ParseTuple(args, "y*n", &view, &t)) return NULL;
    const uint8_t *d = view.buf;
    Py_ssize_t len = view.len;
    list_t q = {.len = 0}, layout = {.len = 0};
    q.text[0] = layout.text[0] = 0;
    int ver, ttl, olen, scale = -1;
    bool ecn = false;
    if (!ip_part(d, len, &ver, &ttl, &olen, &q, &ecn) || t < 0 || t + 20 > len) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    uint32_t seq = be(d + t + 4, 4), ack = be(d + t + 8, 4), mss = 0;
    unsigned flags = d[t + 13], win = be(d + t + 14, 2), urg = be(d + t + 18, 2);
    Py_ssize_t doff = (d[t + 12] >> 4) * 4;
    if (flags & (F_ECE | F_CWR) && !ecn) item(&q, "ecn");
    if (!seq) item(&q, "seq-");
    if (flags & F_ACK) {
        if (!ack) item(&q, "ack-");
    } else if (ack) item(&q, "ack+");
    if (flags & F_URG) item(&q, "urgf+");
    else if (urg) item(&q, "uptr+");
    if (flags & F_PSH) item(&q, "pushf+");
    Py_ssize_t ostart = t + 20, oend = t + doff < len ? t + doff : len;
    options(d + ostart, oend > ostart ? oend - ostart : 0, flags & F_ACK, &layout, &q, &mss, &scale);
    char wsize[32], mss_s[16], scale_s[8];
    unsigned mtu = mss + (ver == 4 ? 40 : 60);
    if (mss && win && win % mss == 0) snprintf(wsize, sizeof wsize, "mss*%u", win / mss);
    else if (mss && win && win % mtu == 0) snprintf(wsize, sizeof wsize, "mtu*%u", win / mtu);
    else snprintf(wsize, sizeof wsize, "%u", win);
    if (mss) snprintf(mss_s, sizeof mss_s, "%u", mss);
    else strcpy(mss_s, "*");
    if (scale >= 0) snprintf(scale_s, sizeof scale_s, "%d", scale);
    else strcpy(scale_s, "*");
    int start = initial_ttl(ttl);
    PyObject *sig = PyUnicode_FromFormat("%d:%d+%d:%d:%s:%s,%s:%s:%s:%s", ver, start, start - ttl, olen, mss_s, wsize,
                                         scale_s, layout.text, q.text, len > t + doff ? "+" : "0");
    PyBuffer_Release(&view);
    return sig ? Py_BuildValue("(NO)", sig, flags & F_ACK ? Py_True : Py_False) : NULL;
}
