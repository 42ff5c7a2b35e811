"""A 64-bit hash of rows of integer columns, for grouping a report's records on arrays.

(The flow and host tables themselves are the packet core's, sensor/csrc.)
"""

from __future__ import annotations

import numpy as np

U64 = np.uint64
_M1 = U64(0xFF51AFD7ED558CCD)
_M2 = U64(0xC4CEB9FE1A85EC53)
_GOLDEN = U64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: every input bit affects every output bit."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> U64(33))
        x = x * _M1
        x ^= x >> U64(33)
        x *= _M2
        x ^= x >> U64(33)
    return x


def hash_columns(cols: list[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of rows of key columns (each column mixed before it is combined)."""
    with np.errstate(over="ignore"):
        h = mix64(cols[0].astype(U64, copy=False))
        for c in cols[1:]:
            h = mix64(h * _GOLDEN ^ c.astype(U64, copy=False))
    return h
