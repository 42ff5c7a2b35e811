/* An HTTP/1.x message head's few headers in C, for discovery's HTTP dissector
 * (discovery/dissectors/http.py).
 *
 * The dissector found a header by searching a lower-cased copy of the head for a line
 * that opens with its name, then cut and stripped the value, some 4 microseconds a
 * message on the bench capture's 1,261 (discovery's cost, issue 18). The same search
 * here: the head is the payload's first 8,192 bytes up to its first blank line (CRLF
 * CRLF, else LF LF), a header the first line start (after a LF) whose name matches
 * case-blind in ASCII, its value up to the next LF, stripped of ASCII whitespace. */
#include "pycore.h"

#define HEADERS_MAX 8192

/* The first `what` (k bytes, opening with a LF or CR) in p[0:n], or -1. */
static Py_ssize_t find(const uint8_t *p, Py_ssize_t n, const char *what, Py_ssize_t k) {
    for (const uint8_t *at = p; n - (at - p) >= k; at++) {
        at = memchr(at, what[0], (size_t)(n - k + 1 - (at - p)));
        if (!at) return -1;
        if (memcmp(at, what, (size_t)k) == 0) return at - p;
    }
    return -1;
}

static bool space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* The value of header `name` (lower case, with its colon) in head[0:n], or None. */
static PyObject *header(const uint8_t *head, Py_ssize_t n, const char *name) {
    Py_ssize_t k = (Py_ssize_t)strlen(name), at = -1;
    for (Py_ssize_t i = 0; at < 0 && i + 1 + k <= n; i++) {
        const uint8_t *lf = memchr(head + i, '\n', (size_t)(n - k - i));
        if (!lf) break;
        i = lf - head;
        Py_ssize_t j = 0;
        while (j < k) {
            uint8_t c = head[i + 1 + j];
            if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (uint8_t)name[j]) break;
            j++;
        }
        if (j == k) at = i;
    }
    if (at < 0) Py_RETURN_NONE;
    Py_ssize_t start = at + 1 + k, end = start;
    while (end < n && head[end] != '\n') end++;
    while (start < end && space(head[start])) start++;
    while (end > start && space(head[end - 1])) end--;
    return PyBytes_FromStringAndSize((const char *)head + start, end - start);
}

/* http_head(data, body) -> (True, Server) for a response, (False, User-Agent, Host) for
 * a request; a header it lacks is None. */
PyObject *core_http_head(PyObject *Py_UNUSED(m), PyObject *args) {
    Py_buffer view;
    Py_ssize_t body;
    if (!PyArg_ParseTuple(args, "y*n", &view, &body)) return NULL;
    if (body < 0) body = 0; /* the core's offsets are never negative */
    const uint8_t *b = (const uint8_t *)view.buf + (body < view.len ? body : view.len);
    Py_ssize_t n = body < view.len ? view.len - body : 0;
    if (n > HEADERS_MAX) n = HEADERS_MAX;
    Py_ssize_t end = find(b, n, "\r\n\r\n", 4);
    if (end < 0) end = find(b, n, "\n\n", 2);
    Py_ssize_t h = end < 0 ? n : end;
    PyObject *out;
    if (h >= 5 && memcmp(b, "HTTP/", 5) == 0) out = Py_BuildValue("(ON)", Py_True, header(b, h, "server:"));
    else out = Py_BuildValue("(ONN)", Py_False, header(b, h, "user-agent:"), header(b, h, "host:"));
    PyBuffer_Release(&view);
    return out;
}
