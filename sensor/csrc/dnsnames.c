/* DNS names and resource records in C, for nps_sensor.dns and discovery's DNS, mDNS and
 * LLMNR dissectors (discovery.dissectors.dnsrecords).
 *
 * Reading a name was the largest single item of discovery's Python: a loop per label,
 * a slice per label, a join, a decode and a lower() per name, some 7,000 instructions,
 * 3,500 names on the 1 M-packet bench capture (discovery's cost, issue 18). These are
 * the same reads, step for step: the same checks in the same order, the same messages,
 * the same text (the labels joined by dots, decoded as UTF-8 with surrogateescape, then
 * lower-cased by str.lower). A malformed name is not an exception here but its message,
 * which the Python side raises as its own DNSError. */
#include "pycore.h"

#define MAX_POINTERS 32
#define NAME_MAX_BYTES 255

/* The name at *pos, its labels joined by dots into `buf` (*len bytes); *pos is updated
 * to the position after it. 0, or -1 with *err set to what is wrong with it. */
static int walk_name(const uint8_t *msg, Py_ssize_t limit, Py_ssize_t *pos, const char **err, char *buf,
                     Py_ssize_t *len_out) {
    Py_ssize_t at = *pos, end = -1, len = 0;
    int jumps = 0, size = 0;
    for (;;) {
        if (at < 0 || at >= limit) return *err = "name runs past the message", -1;
        uint8_t n = msg[at];
        if (n == 0) {
            at++;
            break;
        }
        if (n >= 0xC0) {
            if (at + 1 >= limit) return *err = "truncated compression pointer", -1;
            if (++jumps > MAX_POINTERS) return *err = "compression pointer loop", -1;
            if (end < 0) end = at + 2;
            at = ((Py_ssize_t)(n & 0x3F) << 8) | msg[at + 1];
            continue;
        }
        if (n & 0xC0) return *err = "unknown label type", -1;
        if (at + 1 + n > limit) return *err = "label runs past the message", -1;
        if (len) buf[len++] = '.';
        memcpy(buf + len, msg + at + 1, n);
        len += n;
        at += 1 + n;
        size += n + 1;
        if (size > NAME_MAX_BYTES) return *err = "name longer than 255 bytes", -1;
    }
    *pos = end >= 0 ? end : at;
    *len_out = len;
    return 0;
}

/* The name at *pos (updated to the position after it), or NULL with *err set to what
 * is wrong with it (a Python error pending only when *err stays NULL). An ASCII name
 * (nearly all) is lower-cased here, as str.lower() would; any other is decoded, then
 * lower-cased by str.lower() itself (discovery's cost, issue 18: a method call per
 * name). */
static PyObject *name_at(const uint8_t *msg, Py_ssize_t limit, Py_ssize_t *pos, const char **err) {
    char buf[NAME_MAX_BYTES + 2 + 64]; /* the last label is added before the size check */
    Py_ssize_t len = 0;
    if (walk_name(msg, limit, pos, err, buf, &len)) return NULL;
    bool ascii = true;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x80) {
            ascii = false;
            break;
        }
        if (c >= 'A' && c <= 'Z') buf[i] = (char)(c + ('a' - 'A'));
    }
    if (ascii) return PyUnicode_FromStringAndSize(buf, len);
    PyObject *raw = PyUnicode_DecodeUTF8(buf, len, "surrogateescape");
    if (!raw) return NULL;
    PyObject *lower = PyObject_CallMethod(raw, "lower", NULL);
    Py_DECREF(raw);
    return lower;
}

/* dns_name(msg, pos) -> (name, position after it), or the message of what is wrong. */
PyObject *core_dns_name(PyObject *Py_UNUSED(m), PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    if (!PyArg_ParseTuple(args, "y*n", &view, &pos)) return NULL;
    const char *err = NULL;
    PyObject *name = name_at(view.buf, view.len, &pos, &err), *out = NULL;
    if (name) out = Py_BuildValue("(Nn)", name, pos);
    else if (err) out = PyUnicode_FromString(err);
    PyBuffer_Release(&view);
    return out;
}

/* One resource record's (owner, type, rdata offset, rdata length) onto `out`: 1, 0 at a
 * malformed record (*err says why), -1 with a Python error. */
static int record(const uint8_t *msg, Py_ssize_t limit, Py_ssize_t *pos, PyObject *out, const char **err) {
    PyObject *name = name_at(msg, limit, pos, err);
    if (!name) return *err ? 0 : -1;
    Py_ssize_t at = *pos;
    if (at + 10 > limit) {
        Py_DECREF(name);
        return *err = "truncated resource record", 0;
    }
    unsigned rtype = (unsigned)msg[at] << 8 | msg[at + 1];
    Py_ssize_t rdlen = (Py_ssize_t)msg[at + 8] << 8 | msg[at + 9];
    at += 10;
    if (at + rdlen > limit) {
        Py_DECREF(name);
        return *err = "record data runs past the message", 0;
    }
    PyObject *item = Py_BuildValue("(NInn)", name, rtype, at, rdlen);
    if (!item || PyList_Append(out, item) < 0) {
        Py_XDECREF(item);
        return -1;
    }
    Py_DECREF(item);
    *pos = at + rdlen;
    return 1;
}

/* Every answer, authority and additional record in order, up to the first malformed
 * one, after skipping the questions. */
static int records(const uint8_t *msg, Py_ssize_t limit, PyObject *out, const char **err) {
    unsigned qd = (unsigned)msg[4] << 8 | msg[5];
    unsigned rr = ((unsigned)msg[6] << 8 | msg[7]) + ((unsigned)msg[8] << 8 | msg[9]) +
                  ((unsigned)msg[10] << 8 | msg[11]);
    Py_ssize_t pos = 12;
    char buf[NAME_MAX_BYTES + 2 + 64];
    Py_ssize_t len;
    for (unsigned i = 0; i < qd; i++) { /* walked for their checks; their text is not needed */
        if (walk_name(msg, limit, &pos, err, buf, &len)) return 0;
        pos += 4;
    }
    for (unsigned i = 0; i < rr; i++) {
        int rc = record(msg, limit, &pos, out, err);
        if (rc <= 0) return rc;
    }
    return 1;
}

/* dns_records(msg) -> ([(owner, type, rdata offset, rdata length), ...], the message of
 * what stopped the walk or None). `msg` holds at least a DNS header (12 bytes). */
PyObject *core_dns_records(PyObject *Py_UNUSED(m), PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = PyList_New(0), *result = NULL;
    const char *err = NULL;
    if (view.len < 12) err = "shorter than a DNS header";
    else if (out && records(view.buf, view.len, out, &err) < 0) Py_CLEAR(out);
    if (out) result = err ? Py_BuildValue("(Os)", out, err) : Py_BuildValue("(OO)", out, Py_None);
    Py_XDECREF(out);
    PyBuffer_Release(&view);
    return result;
}
