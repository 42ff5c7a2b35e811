/* DHCPv4 options in C, for discovery's DHCP dissector (discovery/dissectors/dhcp.py).
 *
 * The options' walk was a fifth of the dissector's Python (731 messages on the bench
 * capture, discovery's cost, issue 18); this is the same walk: PAD skipped, END the
 * end, a cut or overlong option the end too, keeping the options before it. */
#include "pycore.h"

#define PAD 0
#define END 255

/* dhcp_options(raw, at) -> ([(code, value), ...] from `at`, whether END ends them). */
PyObject *core_dhcp_options(PyObject *Py_UNUSED(m), PyObject *args) {
    Py_buffer view;
    Py_ssize_t at;
    if (!PyArg_ParseTuple(args, "y*n", &view, &at)) return NULL;
    const uint8_t *raw = view.buf;
    Py_ssize_t n = view.len;
    PyObject *out = PyList_New(0);
    bool whole = false;
    while (out && at >= 0 && at < n) {
        uint8_t code = raw[at];
        if (code == END) {
            whole = true;
            break;
        }
        if (code == PAD) {
            at++;
            continue;
        }
        if (at + 1 >= n || at + 2 + raw[at + 1] > n) break;
        uint8_t size = raw[at + 1];
        PyObject *item = Py_BuildValue("(iy#)", code, (const char *)raw + at + 2, (Py_ssize_t)size);
        if (!item || PyList_Append(out, item) < 0) Py_CLEAR(out);
        Py_XDECREF(item);
        at += 2 + size;
    }
    PyBuffer_Release(&view);
    return out ? Py_BuildValue("(NO)", out, whole ? Py_True : Py_False) : NULL;
}
