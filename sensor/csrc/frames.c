/* Python's view of capture buffers: `Frames` (a batch: frames of one buffer), the
 * walkers of pcap and pcapng files and of TPACKET_V3 ring blocks. */
#define PY_SSIZE_T_CLEAN
#include "pycore.h"

/* ---- Frames ------------------------------------------------------------------------- */

static void frames_dealloc(FramesObject *self) {
    if (self->view.obj) PyBuffer_Release(&self->view);
    PyMem_Free(self->items);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A Frames over `owner`'s buffer, taking `items` (malloc'ed; freed here on failure). */
PyObject *frames_new(PyObject *owner, nps_frame *items, size_t n, bool writable) {
    FramesObject *self = PyObject_New(FramesObject, &FramesType);
    if (!self) {
        free(items);
        return NULL;
    }
    self->items = NULL;
    self->n = 0;
    memset(&self->view, 0, sizeof self->view);
    if (PyObject_GetBuffer(owner, &self->view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) {
        free(items);
        Py_DECREF(self);
        return NULL;
    }
    /* PyMem for the array the object keeps: copied once from the walker's scratch. */
    self->items = PyMem_Malloc(n ? n * sizeof *items : 1);
    if (!self->items) {
        free(items);
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    if (n) memcpy(self->items, items, n * sizeof *items);
    free(items);
    self->n = n;
    for (size_t i = 0; i < n; i++)
        if (self->items[i].off < 0 || self->items[i].off + self->items[i].caplen > self->view.len) {
            Py_DECREF(self);
            PyErr_SetString(PyExc_ValueError, "a frame lies outside its buffer");
            return NULL;
        }
    return (PyObject *)self;
}

static int seq_number(PyObject *seq, Py_ssize_t i, double *out) {
    PyObject *x = PySequence_GetItem(seq, i);
    if (!x) return -1;
    *out = PyFloat_AsDouble(x);
    Py_DECREF(x);
    return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

/* Frames(buffer, offsets, caplens, wirelens, timestamps, linktypes, ifaces): frames
 * that are already in memory (tests, the calibration's sample, the generator). */
static PyObject *frames_make(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyObject *owner, *cols[6];
    static char *names[] = {"buffer", "off", "caplen", "wirelen", "ts", "linktype", "iface", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOO", names, &owner, &cols[0], &cols[1], &cols[2], &cols[3],
                                     &cols[4], &cols[5]))
        return NULL;
    Py_ssize_t n = PySequence_Size(cols[0]);
    if (n < 0) return NULL;
    for (int c = 1; c < 6; c++)
        if (PySequence_Size(cols[c]) != n) {
            PyErr_SetString(PyExc_ValueError, "every column needs one value per frame");
            return NULL;
        }
    nps_frame *items = malloc((size_t)(n ? n : 1) * sizeof *items);
    if (!items) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        double v[6];
        for (int c = 0; c < 6; c++)
            if (seq_number(cols[c], i, &v[c])) {
                free(items);
                return NULL;
            }
        if (v[1] < 0 || v[1] > UINT32_MAX || v[2] < 0 || v[2] > UINT32_MAX) {
            free(items);
            PyErr_SetString(PyExc_ValueError, "a frame length out of range");
            return NULL;
        }
        items[i] = (nps_frame){(int64_t)v[0], (uint32_t)v[1], (uint32_t)v[2], v[3], (uint32_t)v[4], (uint32_t)v[5]};
    }
    (void)type;
    return frames_new(owner, items, (size_t)n, false);
}

static Py_ssize_t frames_len(FramesObject *self) { return (Py_ssize_t)self->n; }

static bool index_ok(FramesObject *self, Py_ssize_t i) {
    if (i >= 0 && (size_t)i < self->n) return true;
    PyErr_SetString(PyExc_IndexError, "frame index out of range");
    return false;
}

static PyObject *frames_time(FramesObject *self, PyObject *arg) {
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if (i == -1 && PyErr_Occurred()) return NULL;
    return index_ok(self, i) ? PyFloat_FromDouble(self->items[i].ts) : NULL;
}

/* The first frame at or after `start` stamped at or after `when` (len if none): where
 * a report window's boundary cuts the batch. */
static PyObject *frames_first_late(FramesObject *self, PyObject *args) {
    Py_ssize_t start;
    double when;
    if (!PyArg_ParseTuple(args, "nd", &start, &when)) return NULL;
    size_t i = start < 0 ? 0 : (size_t)start;
    while (i < self->n && !(self->items[i].ts >= when)) i++;
    return PyLong_FromSize_t(i);
}

static PyObject *frames_wire_bytes(FramesObject *self, PyObject *Py_UNUSED(ignored)) {
    unsigned long long total = 0;
    for (size_t i = 0; i < self->n; i++) total += self->items[i].wirelen;
    return PyLong_FromUnsignedLongLong(total);
}

/* Frames [start, stop) as a batch of their own, on the same buffer. */
static PyObject *frames_take(FramesObject *self, PyObject *args) {
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "nn", &start, &stop)) return NULL;
    if (start < 0) start = 0;
    if (stop > (Py_ssize_t)self->n) stop = (Py_ssize_t)self->n;
    size_t n = stop > start ? (size_t)(stop - start) : 0;
    nps_frame *items = malloc(n ? n * sizeof *items : 1);
    if (!items) return PyErr_NoMemory();
    if (n) memcpy(items, self->items + start, n * sizeof *items);
    return frames_new(self->view.obj, items, n, false);
}

/* (offset, caplen, wirelen, ts, linktype, iface) of frame i. */
static PyObject *frames_frame(FramesObject *self, PyObject *arg) {
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if ((i == -1 && PyErr_Occurred()) || !index_ok(self, i)) return NULL;
    const nps_frame *f = &self->items[i];
    return Py_BuildValue("LIIdII", (long long)f->off, f->caplen, f->wirelen, f->ts, f->linktype, f->iface);
}

static PyMethodDef frames_methods[] = {
    {"time", (PyCFunction)frames_time, METH_O, "Timestamp of frame i (seconds)."},
    {"first_late", (PyCFunction)frames_first_late, METH_VARARGS, "First frame >= start stamped >= when."},
    {"wire_bytes", (PyCFunction)frames_wire_bytes, METH_NOARGS, "Bytes on the wire of all frames."},
    {"take", (PyCFunction)frames_take, METH_VARARGS, "Frames [start, stop) on the same buffer."},
    {"frame", (PyCFunction)frames_frame, METH_O, "(offset, caplen, wirelen, ts, linktype, iface) of frame i."},
    {NULL, NULL, 0, NULL},
};

/* Whole columns as lists (tests and diagnostics; the engine never asks). */
enum { C_OFF, C_CAPLEN, C_WIRELEN, C_TS, C_LINKTYPE, C_IFACE };
static PyObject *frames_column(FramesObject *self, void *closure) {
    int c = (int)(intptr_t)closure;
    PyObject *out = PyList_New((Py_ssize_t)self->n);
    for (size_t i = 0; out && i < self->n; i++) {
        const nps_frame *f = &self->items[i];
        PyObject *v = c == C_OFF       ? PyLong_FromLongLong(f->off)
                      : c == C_CAPLEN  ? PyLong_FromUnsignedLong(f->caplen)
                      : c == C_WIRELEN ? PyLong_FromUnsignedLong(f->wirelen)
                      : c == C_TS      ? PyFloat_FromDouble(f->ts)
                      : c == C_LINKTYPE ? PyLong_FromUnsignedLong(f->linktype)
                                        : PyLong_FromUnsignedLong(f->iface);
        if (!v) Py_CLEAR(out);
        else PyList_SET_ITEM(out, (Py_ssize_t)i, v);
    }
    return out;
}

static PyObject *frames_buffer(FramesObject *self, void *Py_UNUSED(closure)) { return Py_NewRef(self->view.obj); }

static PyGetSetDef frames_getset[] = {
    {"off", (getter)frames_column, NULL, "where each frame starts in the buffer", (void *)C_OFF},
    {"caplen", (getter)frames_column, NULL, "bytes of each frame present", (void *)C_CAPLEN},
    {"wirelen", (getter)frames_column, NULL, "each frame's length on the wire", (void *)C_WIRELEN},
    {"ts", (getter)frames_column, NULL, "each frame's time (seconds since the epoch)", (void *)C_TS},
    {"linktype", (getter)frames_column, NULL, "each frame's link type (LINKTYPE_*)", (void *)C_LINKTYPE},
    {"iface", (getter)frames_column, NULL, "each frame's capture interface", (void *)C_IFACE},
    {"buffer", (getter)frames_buffer, NULL, "the buffer the frames lie in", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods frames_as_sequence = {.sq_length = (lenfunc)frames_len};

PyTypeObject FramesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nps_sensor.packetcore.Frames",
    .tp_doc = "Frames of one capture buffer (a batch).",
    .tp_basicsize = sizeof(FramesObject),
    .tp_dealloc = (destructor)frames_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = frames_make,
    .tp_methods = frames_methods,
    .tp_getset = frames_getset,
    .tp_as_sequence = &frames_as_sequence,
};

/* ---- capture files as sources --------------------------------------------------------------- */

static void source_dealloc(SourceObject *self) {
    nps_source_free(&self->src);
    if (self->view.obj) PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Source(buffer, "pcap", big, unit, rec_len, linktype, limit) or Source(buffer, "pcapng") */
static PyObject *source_new(PyTypeObject *type, PyObject *args, PyObject *Py_UNUSED(kw)) {
    PyObject *owner;
    const char *kind;
    int big = 0, rec_len = 16;
    double unit = 1e-6;
    unsigned int linktype = 1;
    long long limit = 0;
    if (!PyArg_ParseTuple(args, "Os|pdiIL", &owner, &kind, &big, &unit, &rec_len, &linktype, &limit)) return NULL;
    bool pcap = !strcmp(kind, "pcap");
    if (!pcap && strcmp(kind, "pcapng")) {
        PyErr_SetString(PyExc_ValueError, "Source: pcap or pcapng");
        return NULL;
    }
    if (pcap && rec_len != 16 && rec_len != 24) {
        PyErr_SetString(PyExc_ValueError, "Source: pcap record headers are 16 or 24 bytes");
        return NULL;
    }
    SourceObject *self = (SourceObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    memset(&self->src, 0, sizeof self->src);
    if (PyObject_GetBuffer(owner, &self->view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->src.buf = self->view.buf;
    self->src.size = self->view.len;
    if (pcap) {
        nps_source_pcap(&self->src, big, unit, rec_len, linktype, limit);
        self->src.pos = 24; /* after the file header */
    } else {
        nps_source_pcapng(&self->src);
    }
    return (PyObject *)self;
}

/* begin(size) -> whether the new batch (at most `size` frames) has a first frame */
static PyObject *source_begin(SourceObject *self, PyObject *arg) {
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size == -1 && PyErr_Occurred()) return NULL;
    nps_source_begin(&self->src, size > 0 ? (size_t)size : 1);
    const nps_frame *f;
    int r = nps_source_peek(&self->src, &f);
    if (r < 0) return PyErr_NoMemory();
    return PyBool_FromLong(r);
}

/* The next frame's timestamp (the batch's first, after begin). */
static PyObject *source_peek_ts(SourceObject *self, PyObject *Py_UNUSED(ignored)) {
    const nps_frame *f;
    int r = nps_source_peek(&self->src, &f);
    if (r < 0) return PyErr_NoMemory();
    if (!r) Py_RETURN_NONE;
    return PyFloat_FromDouble(f->ts);
}

/* frames() -> the rest of the batch as Frames, read but not processed. */
static PyObject *source_frames(SourceObject *self, PyObject *Py_UNUSED(ignored)) {
    nps_frames out = {0};
    const nps_frame *f;
    int r;
    while ((r = nps_source_peek(&self->src, &f)) == 1) {
        if (nps_frames_push(&out, f)) {
            r = -1;
            break;
        }
        nps_source_take(&self->src);
    }
    if (r < 0) {
        free(out.items);
        return PyErr_NoMemory();
    }
    return frames_new(self->view.obj, out.items, out.n, false);
}

static PyObject *source_damage(SourceObject *self, void *Py_UNUSED(closure)) {
    const nps_damage *d = &self->src.dmg;
    return Py_BuildValue("iLL", d->kind, (long long)d->at, (long long)d->value);
}
static PyObject *source_done(SourceObject *self, void *Py_UNUSED(closure)) { return PyLong_FromLongLong(self->src.done); }
static PyObject *source_pos(SourceObject *self, void *Py_UNUSED(closure)) { return PyLong_FromLongLong(self->src.pos); }

static PyMethodDef source_methods[] = {
    {"begin", (PyCFunction)source_begin, METH_O, "Start a batch of at most size frames; whether it has one."},
    {"peek_ts", (PyCFunction)source_peek_ts, METH_NOARGS, "The next frame's timestamp, None at the batch's end."},
    {"frames", (PyCFunction)source_frames, METH_NOARGS, "The rest of the batch as Frames (read, not processed)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef source_getset[] = {
    {"damage", (getter)source_damage, NULL, "(kind, at, value): what stopped the walk (kind 0: nothing)", NULL},
    {"done", (getter)source_done, NULL, "frames taken so far", NULL},
    {"pos", (getter)source_pos, NULL, "where the next record or block starts", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject SourceType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nps_sensor.packetcore.Source",
    .tp_doc = "A capture file's frames, pulled batch by batch (by the core, or as Frames).",
    .tp_basicsize = sizeof(SourceObject),
    .tp_dealloc = (destructor)source_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = source_new,
    .tp_methods = source_methods,
    .tp_getset = source_getset,
};

/* tpacket_block(ring, base, block_size, count, iface) -> Frames */
PyObject *core_tpacket_block(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *owner;
    long long base, block_size;
    unsigned int count, iface;
    if (!PyArg_ParseTuple(args, "OLLII", &owner, &base, &block_size, &count, &iface)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(owner, &view, PyBUF_WRITABLE) < 0) return NULL;
    nps_frames f = {0};
    int rc = nps_tpacket_block(view.buf, view.len, base, block_size, count, iface, &f);
    PyBuffer_Release(&view);
    if (rc) {
        free(f.items);
        return PyErr_NoMemory();
    }
    return frames_new(owner, f.items, f.n, true);
}
