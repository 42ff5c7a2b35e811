/* The CPython side of the core (frames.c, module.c, results.c, aggregate.c). */
#ifndef NPS_PYCORE_H
#define NPS_PYCORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "engine.h"
#include "readers.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    Py_buffer view;    /* the capture buffer, held while the batch lives */
    nps_frame *items;
    size_t n;
} FramesObject;

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    nps_source src;
} SourceObject;

extern PyTypeObject FramesType, SourceType, CoreType;

PyObject *frames_new(PyObject *owner, nps_frame *items, size_t n, bool writable);
PyObject *core_tpacket_block(PyObject *m, PyObject *args);
PyObject *core_aggregate(PyObject *m, PyObject *args); /* aggregate.c */
PyObject *core_dns_name(PyObject *m, PyObject *args);    /* dnsnames.c */
PyObject *core_dns_records(PyObject *m, PyObject *arg);
PyObject *core_tcp_signature(PyObject *m, PyObject *args); /* tcpsig.c */
PyObject *core_dhcp_options(PyObject *m, PyObject *args);  /* dhcpopts.c */
PyObject *core_http_head(PyObject *m, PyObject *args);     /* httphead.c */

/* results.c: what Python reads of the core's outputs */
PyObject *address(uint64_t hi, uint64_t lo);
PyObject *picks_list(const nps_pick *p, size_t n, const uint8_t *buf);
PyObject *core_decode(PyObject *m, PyObject *arg);
int parse_selection(PyObject *spec, nps_selection *s);
int parse_roles(PyObject *spec, nps_roles *r);

#endif
