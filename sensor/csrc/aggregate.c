/* A harvest's flow records (nps_delta) summed for a report: per address, per (server,
 * port, protocol) answered, and per (client label, server label, port, protocol).
 *
 * Groups come out in the order of a 64-bit hash of their key columns (murmur3's
 * finaliser over each column in turn, nps_hash2), ties by key: the order the report's
 * addresses, labels and records have always had (it decides the order of a report's
 * flows), now without an array library in the process. */
#include "pycore.h"

#define MAX_COLS 4

typedef struct {
    uint64_t k[MAX_COLS];
    uint64_t hash;
    uint32_t id; /* the group's number in order of first appearance */
} agg_key;

/* Distinct keys of `cols` columns, numbered in order of first appearance. */
typedef struct {
    agg_key *keys;
    uint32_t n, mask;
    int32_t *slots;
    int cols;
} agg_groups;

static int groups_init(agg_groups *g, size_t rows, int cols) {
    uint32_t slots = 64;
    while (slots < 2 * rows) slots <<= 1;
    g->keys = malloc((rows + 1) * sizeof *g->keys);
    g->slots = malloc((size_t)slots * sizeof *g->slots);
    if (!g->keys || !g->slots) return -1;
    memset(g->slots, 0xFF, (size_t)slots * sizeof *g->slots);
    g->n = 0;
    g->mask = slots - 1;
    g->cols = cols;
    return 0;
}

static void groups_free(agg_groups *g) {
    free(g->keys);
    free(g->slots);
}

/* The group of a row's key (a new one if the key is new); `fresh` says which. */
static uint32_t group_of(agg_groups *g, const uint64_t *k, bool *fresh) {
    uint64_t h = nps_mix(k[0]);
    for (int j = 1; j < g->cols; j++) h = nps_hash2(h, k[j]);
    uint32_t i = (uint32_t)h & g->mask;
    for (; g->slots[i] >= 0; i = (i + 1) & g->mask) {
        const agg_key *x = &g->keys[g->slots[i]];
        if (x->hash == h && !memcmp(x->k, k, (size_t)g->cols * sizeof *k)) {
            *fresh = false;
            return x->id;
        }
    }
    agg_key *x = &g->keys[g->n];
    memset(x, 0, sizeof *x);
    memcpy(x->k, k, (size_t)g->cols * sizeof *k);
    x->hash = h;
    x->id = g->n;
    g->slots[i] = (int32_t)g->n;
    *fresh = true;
    return g->n++;
}

static int by_hash(const void *a, const void *b) {
    const agg_key *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    for (int j = 0; j < MAX_COLS; j++)
        if (x->k[j] != y->k[j]) return x->k[j] < y->k[j] ? -1 : 1;
    return 0;
}

/* Sorts the keys by hash; rank[id] is then a group's place in that order. */
static void groups_sort(agg_groups *g, uint32_t *rank) {
    qsort(g->keys, g->n, sizeof *g->keys, by_hash);
    for (uint32_t r = 0; r < g->n; r++) rank[g->keys[r].id] = r;
}

typedef struct {
    int64_t sent, received, packets;
    double last;
} agg_addr;

typedef struct {
    uint32_t flow; /* the group's first flow */
    int64_t cb, sb, cp, sp;
    double first, last;
} agg_record;

typedef struct {
    const nps_delta *d;
    size_t n;
    agg_groups addrs;
    uint32_t *ends;       /* per flow: client's then server's address, ranked */
    uint32_t *addr_rank;  /* address group -> rank */
    agg_addr *sums;       /* by address group */
    int64_t *label;       /* by address rank */
} agg_run;

/* Every flow's two addresses, grouped, and their traffic summed. */
static int sum_addresses(agg_run *r) {
    if (groups_init(&r->addrs, 2 * r->n, 2)) return -1;
    r->ends = malloc((2 * r->n + 1) * sizeof *r->ends);
    r->sums = malloc((2 * r->n + 1) * sizeof *r->sums);
    r->addr_rank = malloc((2 * r->n + 1) * sizeof *r->addr_rank);
    if (!r->ends || !r->sums || !r->addr_rank) return -1;
    for (size_t i = 0; i < r->n; i++) {
        const nps_delta *x = &r->d[i];
        int64_t packets = x->client_packets + x->server_packets;
        for (int side = 0; side < 2; side++) {
            uint64_t k[2] = {side ? x->server_hi : x->client_hi, side ? x->server_lo : x->client_lo};
            bool fresh;
            uint32_t a = group_of(&r->addrs, k, &fresh);
            if (fresh) r->sums[a] = (agg_addr){0, 0, 0, -1.0 / 0.0};
            agg_addr *s = &r->sums[a];
            s->sent += side ? x->server_bytes : x->client_bytes;
            s->received += side ? x->client_bytes : x->server_bytes;
            s->packets += packets;
            if (x->last > s->last) s->last = x->last;
            r->ends[2 * i + (size_t)side] = a;
        }
    }
    groups_sort(&r->addrs, r->addr_rank);
    for (size_t i = 0; i < 2 * r->n; i++) r->ends[i] = r->addr_rank[r->ends[i]];
    return 0;
}

/* label(ip, sent, received, packets, last) -> label number, for each address in order. */
static int label_addresses(agg_run *r, PyObject *label) {
    r->label = malloc((r->addrs.n + 1) * sizeof *r->label);
    if (!r->label) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t k = 0; k < r->addrs.n; k++) {
        const agg_key *a = &r->addrs.keys[k];
        const agg_addr *s = &r->sums[a->id];
        PyObject *ip = address(a->k[0], a->k[1]);
        PyObject *got = ip ? PyObject_CallFunction(label, "NLLLd", ip, (long long)s->sent, (long long)s->received,
                                                   (long long)s->packets, s->last)
                           : NULL;
        if (!got) return -1;
        r->label[k] = PyLong_AsLongLong(got);
        Py_DECREF(got);
        if (r->label[k] == -1 && PyErr_Occurred()) return -1;
    }
    return 0;
}

/* [(server, port, proto)]: the ports servers answered on, distinct. */
static PyObject *served(const agg_run *r) {
    agg_groups g = {0};
    PyObject *out = NULL;
    uint32_t *rank = NULL;
    if (groups_init(&g, r->n, 3) || !(rank = malloc((r->n + 1) * sizeof *rank))) goto done;
    for (size_t i = 0; i < r->n; i++) {
        const nps_delta *x = &r->d[i];
        if (x->server_packets <= 0 || x->port < 0) continue;
        uint64_t k[3] = {r->ends[2 * i + 1], (uint64_t)(int64_t)x->port, (uint64_t)(int64_t)x->proto};
        bool fresh;
        group_of(&g, k, &fresh);
    }
    groups_sort(&g, rank);
    out = PyList_New(g.n);
    for (uint32_t i = 0; out && i < g.n; i++) {
        PyObject *t = Py_BuildValue("KLL", (unsigned long long)g.keys[i].k[0], (long long)(int64_t)g.keys[i].k[1],
                                    (long long)(int64_t)g.keys[i].k[2]);
        if (!t) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, t);
    }
done:
    if (!out && !PyErr_Occurred()) PyErr_NoMemory();
    free(rank);
    groups_free(&g);
    return out;
}

/* [(client, server, client label, server label, port, proto, client bytes, server bytes,
 * client packets, server packets, first, last)]: client and server are the addresses
 * (ranked) of the record's first flow. */
static PyObject *records(const agg_run *r) {
    agg_groups g = {0};
    PyObject *out = NULL;
    agg_record *sums = malloc((r->n + 1) * sizeof *sums);
    uint32_t *rank = malloc((r->n + 1) * sizeof *rank);
    if (!sums || !rank || groups_init(&g, r->n, 4)) goto done;
    for (size_t i = 0; i < r->n; i++) {
        const nps_delta *x = &r->d[i];
        uint64_t k[4] = {(uint64_t)r->label[r->ends[2 * i]], (uint64_t)r->label[r->ends[2 * i + 1]],
                         (uint64_t)(int64_t)x->port, (uint64_t)(int64_t)x->proto};
        bool fresh;
        uint32_t id = group_of(&g, k, &fresh);
        agg_record *s = &sums[id];
        if (fresh) *s = (agg_record){(uint32_t)i, 0, 0, 0, 0, 1.0 / 0.0, -1.0 / 0.0};
        s->cb += x->client_bytes, s->sb += x->server_bytes, s->cp += x->client_packets, s->sp += x->server_packets;
        if (x->first < s->first) s->first = x->first;
        if (x->last > s->last) s->last = x->last;
    }
    groups_sort(&g, rank);
    out = PyList_New(g.n);
    for (uint32_t i = 0; out && i < g.n; i++) {
        const agg_key *k = &g.keys[i];
        const agg_record *s = &sums[k->id];
        PyObject *t = Py_BuildValue("IILLLLLLLLdd", r->ends[2 * s->flow], r->ends[2 * s->flow + 1], (long long)k->k[0],
                                    (long long)k->k[1], (long long)(int64_t)k->k[2], (long long)(int64_t)k->k[3],
                                    (long long)s->cb, (long long)s->sb, (long long)s->cp, (long long)s->sp, s->first,
                                    s->last);
        if (!t) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, t);
    }
done:
    if (!out && !PyErr_Occurred()) PyErr_NoMemory();
    free(sums);
    free(rank);
    groups_free(&g);
    return out;
}

/* aggregate(flows, label) -> (served, records): see nps_sensor.report.traffic. */
PyObject *core_aggregate(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *blob, *label;
    if (!PyArg_ParseTuple(args, "OO", &blob, &label)) return NULL;
    Py_buffer b;
    if (PyObject_GetBuffer(blob, &b, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = NULL;
    agg_run r = {0};
    if (b.len % (Py_ssize_t)sizeof(nps_delta)) {
        PyErr_SetString(PyExc_ValueError, "aggregate: not a whole number of flow records");
        goto done;
    }
    r.n = (size_t)b.len / sizeof(nps_delta);
    /* the records are copied out so that every field is aligned */
    nps_delta *copy = malloc((r.n + 1) * sizeof *copy);
    r.d = copy;
    if (!copy) {
        PyErr_NoMemory();
        goto done;
    }
    if (r.n) memcpy(copy, b.buf, r.n * sizeof *copy);
    if (sum_addresses(&r)) {
        PyErr_NoMemory();
        goto done;
    }
    if (label_addresses(&r, label)) goto done;
    PyObject *s = served(&r), *t = s ? records(&r) : NULL;
    if (t) out = Py_BuildValue("NN", s, t);
    else Py_XDECREF(s);
done:
    free((void *)r.d);
    groups_free(&r.addrs);
    free(r.ends);
    free(r.sums);
    free(r.addr_rank);
    free(r.label);
    PyBuffer_Release(&b);
    return out;
}
