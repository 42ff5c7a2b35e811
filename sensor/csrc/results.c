/* What crosses between the core and Python: the tables Python declares (orientation
 * rules, discovery's selection), the packets it dissects and a frame-by-frame decode
 * for tests (the flows' aggregation for reports is aggregate.c). */
#include "pycore.h"

#define V4_MAPPED_HI 0

/* A 128-bit address (IPv4 mapped) as a Python int. */
PyObject *address(uint64_t hi, uint64_t lo) {
    PyObject *low = PyLong_FromUnsignedLongLong(lo);
    if (!hi || !low) return low;
    PyObject *high = PyLong_FromUnsignedLongLong(hi), *shift = PyLong_FromLong(64), *up = NULL, *out = NULL;
    if (high && shift && (up = PyNumber_Lshift(high, shift))) out = PyNumber_Or(up, low);
    Py_XDECREF(high);
    Py_XDECREF(shift);
    Py_XDECREF(up);
    Py_DECREF(low);
    return out;
}

static PyObject *mac_int(uint64_t mac) { return mac == UINT64_MAX ? PyLong_FromLong(-1) : PyLong_FromUnsignedLongLong(mac); }

/* (kind, ts, src, dst, smac, dmac, proto, sport, dport, data, l4, body): data runs from
 * the IP header (a link-layer frame's payload) to the packet's end. Built item by item
 * (Py_BuildValue would parse its format string again for every packet). */
static PyObject *pick_tuple(const nps_pick *k, const uint8_t *buf) {
    int64_t end = k->end > k->start ? k->end : k->start;
    PyObject *items[12] = {
        PyLong_FromLong(k->kind),
        PyFloat_FromDouble(k->ts),
        k->link ? PyLong_FromLong(-1) : address(k->src_hi, k->src_lo),
        k->link ? PyLong_FromLong(-1) : address(k->dst_hi, k->dst_lo),
        mac_int(k->smac),
        mac_int(k->dmac),
        PyLong_FromLong(k->proto),
        PyLong_FromLong(k->sport),
        PyLong_FromLong(k->dport),
        PyBytes_FromStringAndSize((const char *)buf + k->start, (Py_ssize_t)(end - k->start)),
        PyLong_FromLongLong((long long)(k->l4 - k->start)),
        PyLong_FromLongLong((long long)(k->body - k->start)),
    };
    PyObject *t = PyTuple_New(12);
    for (Py_ssize_t i = 0; i < 12; i++) {
        if (t && items[i]) {
            PyTuple_SET_ITEM(t, i, items[i]);
        } else {
            Py_XDECREF(items[i]);
            Py_CLEAR(t);
        }
    }
    return t;
}

PyObject *picks_list(const nps_pick *p, size_t n, const uint8_t *buf) {
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out && i < n; i++) {
        PyObject *t = pick_tuple(&p[i], buf);
        if (!t) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, t);
    }
    return out;
}

/* ---- declared tables --------------------------------------------------------------- */

static int table(PyObject *spec, const char *key, void *dest, size_t size) {
    PyObject *v = PyDict_GetItemString(spec, key);
    Py_buffer b;
    if (!v || PyObject_GetBuffer(v, &b, PyBUF_SIMPLE) < 0) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "core tables: %s is missing", key);
        return -1;
    }
    int rc = 0;
    if ((size_t)b.len != size) {
        PyErr_Format(PyExc_ValueError, "core tables: %s holds %zd bytes, not %zu", key, b.len, size);
        rc = -1;
    } else {
        memcpy(dest, b.buf, size);
    }
    PyBuffer_Release(&b);
    return rc;
}

int parse_roles(PyObject *spec, nps_roles *r) {
    if (!PyDict_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "roles: a dict of tables");
        return -1;
    }
    int32_t min_payload[N_SAME_PORT_KINDS];
    if (table(spec, "well_known", r->well_known, 65536) || table(spec, "pair_client", r->pair_client, 65536) ||
        table(spec, "pair_server", r->pair_server, 65536) || table(spec, "same_port", r->same_port, 65536) ||
        table(spec, "min_payload", min_payload, sizeof min_payload) ||
        table(spec, "key_byte", r->key_byte, sizeof r->key_byte) ||
        table(spec, "key_bit", r->key_bit, sizeof r->key_bit) || table(spec, "role", r->role, sizeof r->role) ||
        table(spec, "icmp_role", r->icmp_role, sizeof r->icmp_role))
        return -1;
    memcpy(r->min_payload, min_payload, sizeof min_payload);
    return 0;
}

/* An alternative's equality tests within the payload's first 8 bytes, as one masked
 * big-endian word (nps_alt.head_mask). A test whose value has bits outside its mask
 * never holds: left to the tests themselves. Where several tests read one bit, each
 * that holds gives that bit the word's value, so their OR is what the word must hold. */
static void head(nps_alt *x) {
    x->head_mask = x->head_value = 0;
    for (int t = 0; t < x->ntests; t++) {
        const nps_test *y = &x->tests[t];
        uint32_t full = y->width == 4 ? 0xFFFFFFFFu : (1u << (8 * y->width)) - 1;
        uint32_t mask = y->mask & full;
        if (y->op != T_EQ || y->offset > HEAD_BYTES - y->width || (y->value & ~mask)) continue;
        int shift = 8 * (HEAD_BYTES - y->offset - y->width);
        x->head_mask |= (uint64_t)mask << shift;
        x->head_value |= (uint64_t)y->value << shift;
    }
}

static int parse_sig(PyObject *spec, nps_sig *s) {
    int to_port;
    PyObject *alts;
    memset(s, 0, sizeof *s);
    if (!PyArg_ParseTuple(spec, "pO", &to_port, &alts)) return -1;
    s->to_port = to_port;
    Py_ssize_t n = PySequence_Size(alts);
    if (n < 0 || n > MAX_ALTS) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "a signature has at most %d alternatives", MAX_ALTS);
        return -1;
    }
    for (Py_ssize_t a = 0; a < n; a++) {
        PyObject *alt = PySequence_GetItem(alts, a), *tests;
        nps_alt *x = &s->alts[a];
        if (!alt || !PyArg_ParseTuple(alt, "iO", &x->min_room, &tests)) {
            Py_XDECREF(alt);
            return -1;
        }
        Py_ssize_t nt = PySequence_Size(tests);
        if (nt < 0 || nt > MAX_TESTS) {
            Py_DECREF(alt);
            if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "an alternative has at most %d tests", MAX_TESTS);
            return -1;
        }
        for (Py_ssize_t t = 0; t < nt; t++) {
            PyObject *test = PySequence_GetItem(tests, t);
            nps_test *y = &x->tests[t];
            unsigned char width, op;
            if (!test || !PyArg_ParseTuple(test, "ibIbI", &y->offset, &width, &y->mask, &op, &y->value)) {
                Py_XDECREF(test);
                Py_DECREF(alt);
                return -1;
            }
            Py_DECREF(test);
            if ((width != 1 && width != 2 && width != 4) || op > T_LT || y->offset < 0) {
                Py_DECREF(alt);
                PyErr_SetString(PyExc_ValueError, "a test reads 1, 2 or 4 bytes at an offset >= 0, with == or <");
                return -1;
            }
            y->width = width;
            y->op = op;
        }
        x->ntests = (uint8_t)nt;
        head(x);
        Py_DECREF(alt);
    }
    s->nalts = (uint8_t)n;
    return 0;
}

static int dissector_id(PyObject *v, uint8_t *out) {
    long id = PyLong_AsLong(v);
    if (id == -1 && PyErr_Occurred()) return -1;
    if (id < 0 || id >= MAX_DISSECTORS) {
        PyErr_Format(PyExc_ValueError, "dissector ids go up to %d", MAX_DISSECTORS - 1);
        return -1;
    }
    *out = (uint8_t)id;
    return 0;
}

/* Can a payload whose first byte is `b` match `s`? (Only the tests at offset 0 that
 * read for equality can say no: the prefilter that spares most payloads the tests.) */
static bool may_open(const nps_sig *s, uint8_t b) {
    if (!s->nalts) return true;
    for (int a = 0; a < s->nalts; a++) {
        const nps_alt *alt = &s->alts[a];
        bool ok = true;
        for (int t = 0; t < alt->ntests && ok; t++) {
            const nps_test *x = &alt->tests[t];
            int shift = 8 * (x->width - 1);
            if (x->offset == 0 && x->op == T_EQ) ok = (b & (x->mask >> shift & 0xFF)) == (x->value >> shift & 0xFF);
        }
        if (ok) return true;
    }
    return false;
}

/* {id: [(start, stop), ...]}: the UDP protocols whose repeats the core drops. */
static int parse_repeats(PyObject *spec, nps_repeat *out) {
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    if (!PyDict_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "selection: repeats is a dict");
        return -1;
    }
    while (PyDict_Next(spec, &pos, &k, &v)) {
        uint8_t id;
        if (dissector_id(k, &id)) return -1;
        nps_repeat *r = &out[id];
        Py_ssize_t n = PySequence_Size(v);
        if (n < 1 || n > MAX_SPANS) {
            if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "a repeat has 1 to %d spans", MAX_SPANS);
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *span = PySequence_GetItem(v, i);
            nps_span *x = &r->spans[i];
            int ok = span && PyArg_ParseTuple(span, "ii", &x->start, &x->stop);
            Py_XDECREF(span);
            if (!ok) return -1;
            if (x->start < 0 || x->stop < -1 || (x->stop >= 0 && x->stop < x->start)) {
                PyErr_SetString(PyExc_ValueError, "a repeat's span: 0 <= start <= stop, or stop -1");
                return -1;
            }
        }
        r->n = (uint8_t)n;
    }
    return 0;
}

int parse_selection(PyObject *spec, nps_selection *s) {
    memset(s, 0, sizeof *s);
    if (!PyDict_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "selection: a dict of tables");
        return -1;
    }
    if (table(spec, "udp_ports", s->udp_ports, 65536) || table(spec, "tcp_ports", s->tcp_ports, 65536)) return -1;
    PyObject *udp = PyDict_GetItemString(spec, "udp_sigs"), *tcp = PyDict_GetItemString(spec, "tcp_sigs");
    PyObject *magic = PyDict_GetItemString(spec, "magic"), *ids = PyDict_GetItemString(spec, "ids");
    if (!udp || !PyDict_Check(udp) || !tcp || !PyDict_Check(tcp) || !magic || !ids || !PyDict_Check(ids)) {
        PyErr_SetString(PyExc_ValueError, "selection: udp_sigs, tcp_sigs, magic and ids are needed");
        return -1;
    }
    for (int t = 0; t < 2; t++) {
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (PyDict_Next(t ? tcp : udp, &pos, &k, &v)) {
            uint8_t id;
            if (dissector_id(k, &id) || parse_sig(v, t ? &s->tcp_sig[id] : &s->udp_sig[id])) return -1;
        }
    }
    Py_ssize_t n = PySequence_Size(magic);
    if (n < 0 || n > MAX_MAGIC) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "at most %d magic signatures", MAX_MAGIC);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_GetItem(magic, i), *sig;
        PyObject *idv;
        if (!item || !PyArg_ParseTuple(item, "OO", &idv, &sig) || dissector_id(idv, &s->magic_id[i]) ||
            parse_sig(sig, &s->magic[i])) {
            Py_XDECREF(item);
            return -1;
        }
        Py_DECREF(item);
    }
    s->nmagic = (uint8_t)n;
    for (int b = 0; b < 256; b++)
        for (int m = 0; m < s->nmagic; m++) s->magic_first[b] |= (uint8_t)(may_open(&s->magic[m], (uint8_t)b) << m);
    struct { const char *name; uint8_t *id; } named[] = {
        {"tcp-fingerprint", &s->id_tcp_fingerprint}, {"tls", &s->id_tls}, {"dns", &s->id_dns}, {"http", &s->id_http},
        {"ndp", &s->id_ndp}, {"lldp", &s->id_lldp}, {"cdp", &s->id_cdp},
    };
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        PyObject *id = PyDict_GetItemString(ids, named[i].name);
        if (!id) {
            PyErr_Format(PyExc_KeyError, "selection: no id for %s", named[i].name);
            return -1;
        }
        if (dissector_id(id, named[i].id)) return -1;
    }
    PyObject *repeats = PyDict_GetItemString(spec, "repeats");
    return repeats ? parse_repeats(repeats, s->udp_repeat) : 0;
}

/* ---- decoding, frame by frame (tests) ----------------------------------------------------- */

/* decode(frames) -> [dict per frame]: every field the decoder sets. */
PyObject *core_decode(PyObject *Py_UNUSED(m), PyObject *arg) {
    if (!PyObject_TypeCheck(arg, &FramesType)) {
        PyErr_SetString(PyExc_TypeError, "decode: Frames expected");
        return NULL;
    }
    FramesObject *fr = (FramesObject *)arg;
    PyObject *out = PyList_New((Py_ssize_t)fr->n);
    nps_pkt d;
    for (size_t i = 0; out && i < fr->n; i++) {
        nps_decode(&d, fr->view.buf, &fr->items[i]);
        uint64_t smac = nps_src_mac(&d), dmac = nps_dst_mac(&d);
        PyObject *src = address(d.src_hi, d.src_lo), *dst = address(d.dst_hi, d.dst_lo);
        PyObject *item = src && dst ? Py_BuildValue(
            "{s:i,s:i,s:I,s:L,s:L,s:L,s:i,s:i,s:L,s:I,s:i,s:L,s:L,s:i,s:i,s:i,s:H,s:H,s:O,s:O,s:L,s:N,s:N,"
            "s:N,s:N,s:i,s:i,s:K,s:K,s:K,s:K,s:I,s:K}",
            "state", d.state, "err", d.err, "et", d.et, "p", (long long)d.p, "end", (long long)d.end,
            "mac_at", (long long)d.mac_at, "vlan_outer", d.vlan_outer, "vlan_inner", d.vlan_inner,
            "tunnel_id", (long long)d.tunnel_id, "encap", d.encap, "depth", d.depth, "l3", (long long)d.l3,
            "l4", (long long)d.l4, "ipver", d.ipver, "frag", d.frag, "proto", d.proto, "sport", d.sport,
            "dport", d.dport, "has_ports", d.has_ports ? Py_True : Py_False,
            "short_l4", d.short_l4 ? Py_True : Py_False, "iplen", (long long)d.iplen, "src", src, "dst", dst,
            "smac", mac_int(smac), "dmac", mac_int(dmac), "tcpflags", d.tcpflags, "icmptype", d.icmptype,
            "head", (unsigned long long)d.head, "fraghdr", (unsigned long long)d.fraghdr,
            "t0", (unsigned long long)d.t0, "t1", (unsigned long long)d.t1, "ipid", d.ipid,
            "path", (unsigned long long)d.path)
                                    : NULL;
        if (!item) {
            if (!src || !dst) {
                Py_XDECREF(src);
                Py_XDECREF(dst);
            }
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    return out;
}
