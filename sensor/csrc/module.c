/* nps_sensor.packetcore: the packet core as a Python module.
 *
 * `Core` is one collector's state (flows, hosts, fragments, copies, counters, the
 * discovery selection's "seen" sets). `process(frames, start, stop, hellos)` runs frames
 * [start, stop) as one batch and returns what Python handles itself: the packets
 * discovery dissects (IP ones, then link-layer ones) and the DNS answers of monitored
 * domains. `harvest(final)` hands over the flows' and the hosts' news as packed records;
 * `aggregate` sums flow records for a report (aggregate.c).
 */
#include "pycore.h"

typedef struct {
    PyObject_HEAD
    nps_engine e;
    nps_roles *roles;
    nps_selection *sel;
    bool ready;
} CoreObject;

static void core_dealloc(CoreObject *self) {
    if (self->ready) nps_engine_free(&self->e);
    PyMem_Free(self->roles);
    PyMem_Free(self->sel);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Settings that a new configuration may change (SIGHUP): the tables stay. */
static int configure(CoreObject *self, PyObject *kw) {
    PyObject *sel = PyDict_GetItemString(kw, "selection");
    PyObject *window = PyDict_GetItemString(kw, "window"), *identical = PyDict_GetItemString(kw, "identical_window");
    PyObject *max_flows = PyDict_GetItemString(kw, "max_flows"), *idle = PyDict_GetItemString(kw, "idle_timeout");
    PyObject *watch = PyDict_GetItemString(kw, "watch_dns");
    if (!window || !identical || !max_flows || !idle || !watch) {
        PyErr_SetString(PyExc_TypeError,
                        "Core needs window, identical_window, max_flows, idle_timeout, watch_dns and selection");
        return -1;
    }
    double w = PyFloat_AsDouble(window), iw = PyFloat_AsDouble(identical), it = PyFloat_AsDouble(idle);
    long long mf = PyLong_AsLongLong(max_flows);
    int wd = PyObject_IsTrue(watch);
    if (PyErr_Occurred() || wd < 0) return -1;
    if (sel && sel != Py_None) {
        if (!self->sel && !(self->sel = PyMem_Malloc(sizeof *self->sel))) {
            PyErr_NoMemory();
            return -1;
        }
        nps_selection fresh;
        if (parse_selection(sel, &fresh)) return -1;
        *self->sel = fresh;
    } else {
        PyMem_Free(self->sel);
        self->sel = NULL;
    }
    self->e.sel = self->sel;
    self->e.watch_dns = wd;
    self->e.dedupe.window = w;
    self->e.dedupe.identical_window = iw;
    self->e.flows.max_flows = mf;
    self->e.flows.idle_timeout = it;
    return 0;
}

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    if (PyTuple_GET_SIZE(args) != 1 || !kw) {
        PyErr_SetString(PyExc_TypeError, "Core(roles, *, window, identical_window, max_flows, idle_timeout, "
                                         "watch_dns, selection)");
        return NULL;
    }
    CoreObject *self = (CoreObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->roles = PyMem_Malloc(sizeof *self->roles);
    if (!self->roles) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    if (parse_roles(PyTuple_GET_ITEM(args, 0), self->roles)) {
        Py_DECREF(self);
        return NULL;
    }
    if (nps_engine_init(&self->e, self->roles, 500000, 300.0)) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->ready = true;
    if (configure(self, kw)) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *core_configure(CoreObject *self, PyObject *args, PyObject *kw) {
    if (PyTuple_GET_SIZE(args) || !kw) {
        PyErr_SetString(PyExc_TypeError, "configure takes keyword arguments only");
        return NULL;
    }
    return configure(self, kw) ? NULL : Py_NewRef(Py_None);
}

/* The TLS dissector's pending hellos, through the callable Python gave process(). */
static int call_hellos(void *ctx, double now, bool cut, uint32_t **seqs, size_t *n) {
    *seqs = NULL;
    *n = 0;
    if (!ctx || ctx == Py_None) return 0;
    PyObject *got = PyObject_CallFunction((PyObject *)ctx, "dO", now, cut ? Py_True : Py_False);
    if (!got) return -1;
    int rc = 0;
    if (got != Py_None) {
        PyObject *fast = PySequence_Fast(got, "hellos: a sequence of sequence numbers");
        Py_ssize_t k = fast ? PySequence_Fast_GET_SIZE(fast) : -1;
        if (k > 0 && !(*seqs = malloc((size_t)k * sizeof **seqs))) PyErr_NoMemory();
        for (Py_ssize_t i = 0; *seqs && i < k; i++) {
            unsigned long v = PyLong_AsUnsignedLongMask(PySequence_Fast_GET_ITEM(fast, i));
            (*seqs)[i] = (uint32_t)v;
        }
        if (k > 0 && *seqs && !PyErr_Occurred()) *n = (size_t)k;
        if (!fast || PyErr_Occurred()) rc = -1;
        Py_XDECREF(fast);
    }
    Py_DECREF(got);
    return rc;
}

static PyObject *outputs(CoreObject *self, const uint8_t *buf);

/* process(frames, start, stop, hellos) -> (picks, link picks, DNS answers) */
static PyObject *core_process(CoreObject *self, PyObject *args) {
    FramesObject *fr;
    Py_ssize_t start, stop;
    PyObject *hellos;
    if (!PyArg_ParseTuple(args, "O!nnO", &FramesType, &fr, &start, &stop, &hellos)) return NULL;
    if (start < 0) start = 0;
    if (stop > (Py_ssize_t)fr->n) stop = (Py_ssize_t)fr->n;
    if (stop <= start) return Py_BuildValue("[][][]");
    const uint8_t *buf = fr->view.buf;
    if (nps_engine_batch(&self->e, buf, fr->items + start, (size_t)(stop - start), call_hellos, hellos)) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    return outputs(self, buf);
}

/* (picks, link picks, DNS answers) of the batch just processed. */
static PyObject *outputs(CoreObject *self, const uint8_t *buf) {
    PyObject *picks = picks_list(self->e.picks.items, self->e.picks.n, buf);
    PyObject *links = picks ? picks_list(self->e.links.items, self->e.links.n, buf) : NULL;
    PyObject *dns = links ? PyList_New((Py_ssize_t)self->e.dns.n / 2) : NULL;
    for (size_t i = 0; dns && i < self->e.dns.n / 2; i++) {
        int64_t a = self->e.dns.items[2 * i], b = self->e.dns.items[2 * i + 1];
        PyObject *payload = PyBytes_FromStringAndSize((const char *)buf + a, b > a ? (Py_ssize_t)(b - a) : 0);
        if (!payload) Py_CLEAR(dns);
        else PyList_SET_ITEM(dns, (Py_ssize_t)i, payload);
    }
    if (!dns) {
        Py_XDECREF(picks);
        Py_XDECREF(links);
        return NULL;
    }
    return Py_BuildValue("NNN", picks, links, dns);
}

/* A host's news, as harvest hands it over (nps_sensor.hosts reads it). */
typedef struct {
    uint64_t ip_hi, ip_lo, mac;
    int64_t packets;
    double first, last;
    int64_t vlan, tunnel, claimed;
} host_record;

/* run(source, stop, hellos) -> (taken, late, picks, link picks, DNS answers): frames
 * pulled from the source as one batch, up to the first stamped at or after `stop`. */
static PyObject *core_run(CoreObject *self, PyObject *args) {
    SourceObject *src;
    double stop;
    PyObject *hellos;
    if (!PyArg_ParseTuple(args, "O!dO", &SourceType, &src, &stop, &hellos)) return NULL;
    size_t taken = 0;
    bool late = false;
    if (nps_engine_run(&self->e, &src->src, stop, call_hellos, hellos, &taken, &late)) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    PyObject *out = outputs(self, src->src.buf);
    return out ? Py_BuildValue("nON", (Py_ssize_t)taken, late ? Py_True : Py_False, out) : NULL;
}

/* harvest(final) -> (flow records, host records): packed, one record per flow (nps_delta)
 * or (address, MAC, VLAN, tunnel) with news since the last harvest. */
static PyObject *core_harvest(CoreObject *self, PyObject *arg) {
    int final = PyObject_IsTrue(arg);
    if (final < 0) return NULL;
    nps_deltas flows = {0};
    if (nps_engine_harvest(&self->e, final, &flows)) {
        free(flows.items);
        return PyErr_NoMemory();
    }
    PyObject *blob = PyBytes_FromStringAndSize((const char *)flows.items, (Py_ssize_t)(flows.n * sizeof(nps_delta)));
    free(flows.items);
    nps_hosts *h = &self->e.hosts;
    host_record *out = malloc((h->n ? h->n : 1) * sizeof *out);
    size_t k = 0;
    for (uint32_t r = 0; out && r < h->n; r++) {
        nps_host *row = &h->rows[r];
        if (row->packets <= row->reported) continue;
        const nps_hkey *key = &h->keys[r];
        out[k++] = (host_record){key->ip_hi, key->ip_lo, key->mac, row->packets - row->reported, row->first, row->last,
                                 key->vlan, key->tunnel, row->claimed};
        row->reported = row->packets;
    }
    PyObject *hosts = out ? PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)(k * sizeof *out)) : PyErr_NoMemory();
    free(out);
    if (!blob || !hosts) {
        Py_XDECREF(blob);
        Py_XDECREF(hosts);
        return NULL;
    }
    return Py_BuildValue("NN", blob, hosts);
}

static PyObject *counts(const int64_t *v, const char *const *names, int n) {
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < n; i++) {
        if (!v[i]) continue;
        PyObject *x = PyLong_FromLongLong(v[i]);
        if (!x || PyDict_SetItemString(d, names[i], x)) Py_CLEAR(d);
        Py_XDECREF(x);
    }
    return d;
}

/* stats() -> the counters (the Python side names and orders them). */
static PyObject *core_stats(CoreObject *self, PyObject *Py_UNUSED(ignored)) {
    nps_engine *e = &self->e;
    nps_stats *s = &e->stats;
    PyObject *non_ip = PyDict_New();
    for (int i = 0; non_ip && i <= 65536; i++) {
        if (!s->non_ip[i]) continue;
        PyObject *k = PyLong_FromLong(i == 65536 ? (long)K_LLC : i), *v = PyLong_FromLongLong(s->non_ip[i]);
        if (!k || !v || PyDict_SetItem(non_ip, k, v)) Py_CLEAR(non_ip);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    PyObject *dups = PyDict_New();
    for (int i = 0; dups && i < N_DUP_REASONS; i++) {
        PyObject *v = PyLong_FromLongLong(e->dedupe.reasons[i]);
        if (!v || PyDict_SetItemString(dups, DUP_REASON_NAMES[i], v)) Py_CLEAR(dups);
        Py_XDECREF(v);
    }
    if (!non_ip || !dups) {
        Py_XDECREF(non_ip);
        Py_XDECREF(dups);
        return NULL;
    }
    return Py_BuildValue(
        "{s:L,s:L,s:L,s:L,s:d,s:d,s:N,s:N,s:N,s:N,s:{s:L,s:L,s:L,s:L},s:{s:L,s:L,s:L,s:L},s:L}", "packets",
        (long long)s->packets, "bytes", (long long)s->bytes, "ip_packets", (long long)s->ip_packets, "short_l4",
        (long long)s->short_l4, "first", s->first, "last", s->last, "decode_errors",
        counts(s->reasons, REASON_NAMES, N_REASONS), "encapsulation", counts(s->encaps, ENCAP_NAMES, N_ENCAPS),
        "non_ip", non_ip, "duplicates", dups, "flows", "created", (long long)e->flows.created, "active",
        (long long)e->flows.n, "evicted_idle", (long long)e->flows.evicted_idle, "evicted_full",
        (long long)e->flows.evicted_full, "fragments", "packets", (long long)e->frags.fragments, "datagrams",
        (long long)e->frags.datagrams, "without_first_fragment", (long long)e->frags.without_first,
        "inside_tunnels", (long long)e->frags.inside_tunnels, "selected", (long long)s->selected);
}

static PyMethodDef core_methods[] = {
    {"configure", (PyCFunction)(void (*)(void))core_configure, METH_VARARGS | METH_KEYWORDS,
     "New settings (window, identical_window, max_flows, idle_timeout, watch_dns, selection)."},
    {"process", (PyCFunction)core_process, METH_VARARGS, "Frames [start, stop) as one batch."},
    {"run", (PyCFunction)core_run, METH_VARARGS, "Frames pulled from a Source as one batch, up to a time."},
    {"harvest", (PyCFunction)core_harvest, METH_O, "Flows and hosts since the last harvest."},
    {"stats", (PyCFunction)core_stats, METH_NOARGS, "The counters."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nps_sensor.packetcore.Core",
    .tp_doc = "One collector's packet state: decode, copies, hosts, flows, fragments, selection.",
    .tp_basicsize = sizeof(CoreObject),
    .tp_dealloc = (destructor)core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = core_new,
    .tp_methods = core_methods,
};

/* ---- the module ----------------------------------------------------------------------- */

/* tables_blob(roles, selection) -> the tables as the core holds them (the fuzzer's). */
static PyObject *core_tables_blob(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *roles, *sel;
    if (!PyArg_ParseTuple(args, "OO", &roles, &sel)) return NULL;
    size_t size = sizeof(nps_roles) + sizeof(nps_selection);
    uint8_t *blob = PyMem_Calloc(1, size);
    if (!blob) return PyErr_NoMemory();
    PyObject *out = NULL;
    if (!parse_roles(roles, (nps_roles *)blob) && !parse_selection(sel, (nps_selection *)(blob + sizeof(nps_roles))))
        out = PyBytes_FromStringAndSize((const char *)blob, (Py_ssize_t)size);
    PyMem_Free(blob);
    return out;
}

static PyMethodDef module_methods[] = {
    {"tpacket_block", core_tpacket_block, METH_VARARGS, "The packets of a TPACKET_V3 ring block."},
    {"aggregate", core_aggregate, METH_VARARGS, "Flow records summed per address, served port and record."},
    {"decode", core_decode, METH_O, "Every frame's decoded fields (tests)."},
    {"tables_blob", core_tables_blob, METH_VARARGS, "The declared tables as the core holds them (the fuzzer's)."},
    {"dns_name", core_dns_name, METH_VARARGS, "A DNS name at a position: (name, end), or what is wrong."},
    {"dns_records", core_dns_records, METH_O, "A DNS message's resource records, and what stopped them."},
    {"tcp_signature", core_tcp_signature, METH_VARARGS, "A TCP SYN's or SYN+ACK's p0f signature, and which."},
    {"dhcp_options", core_dhcp_options, METH_VARARGS, "DHCPv4 options from a position, and whether END ends them."},
    {"http_head", core_http_head, METH_VARARGS, "An HTTP message head's Server, or User-Agent and Host."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "packetcore", "The sensor's compiled packet core (see sensor/csrc).", -1, module_methods,
};

static PyObject *names(const char *const *list, int n) {
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t && i < n; i++) {
        PyObject *s = PyUnicode_FromString(list[i]);
        if (!s) Py_CLEAR(t);
        else PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

static int add_owned(PyObject *m, const char *name, PyObject *value) {
    if (!value) return -1;
    int rc = PyModule_AddObjectRef(m, name, value);
    Py_DECREF(value);
    return rc;
}

PyMODINIT_FUNC PyInit_packetcore(void) {
    if (PyType_Ready(&FramesType) < 0 || PyType_Ready(&SourceType) < 0 || PyType_Ready(&CoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Frames", (PyObject *)&FramesType) < 0 ||
        PyModule_AddObjectRef(m, "Source", (PyObject *)&SourceType) < 0 ||
        PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0 ||
        add_owned(m, "ENCAPS", names(ENCAP_NAMES, N_ENCAPS)) < 0 ||
        add_owned(m, "REASONS", names(REASON_NAMES, N_REASONS)) < 0 ||
        add_owned(m, "DUPLICATE_REASONS", names(DUP_REASON_NAMES, N_DUP_REASONS)) < 0 ||
        PyModule_AddIntConstant(m, "HOST_RECORD_SIZE", (long)sizeof(host_record)) < 0 ||
        PyModule_AddIntConstant(m, "FLOW_RECORD_SIZE", (long)sizeof(nps_delta)) < 0 ||
        PyModule_AddIntConstant(m, "LLC", (long)K_LLC) < 0 ||
        PyModule_AddIntConstant(m, "SEEN_LIMIT", (long)NPS_SEEN_LIMIT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
