"""A hash table over numpy arrays: maps integer keys to row numbers, a batch at a time.

The flow and host tables see every packet, so their lookups must be vector
operations too. A key is a few uint64 columns; the table is open addressing with
linear probing at a load of at most 1/4, so that probe chains stay short. A batch
of keys (repeats allowed) is looked up and the missing ones inserted in a few
passes: each pass resolves every key whose probe found its own key or an empty
slot; keys racing for one empty slot let the first of them (in batch order) win,
and the others find it on the next pass. Keys are compared in full, column by
column, so a hash collision never merges two keys. Rows live in dense arrays that
the owner extends with its own columns; removing rows rebuilds the index, which
owners do in bulk (idle-flow sweeps), never per packet.
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


class VecTable:
    """Key columns -> dense row numbers. Row payload columns belong to the owner."""

    def __init__(self, width: int, capacity: int = 1 << 14) -> None:
        self.width = width
        self.rows = 0  # rows in use: 0 .. rows-1
        self.keys = [np.zeros(capacity, dtype=U64) for _ in range(width)]
        self.hashes = np.zeros(capacity, dtype=U64)
        self._index(capacity)

    @property
    def capacity(self) -> int:
        return len(self.hashes)

    def _index(self, capacity: int) -> None:
        slots = 1 << max(6, (4 * capacity - 1).bit_length())
        self.mask = slots - 1
        self.slot_row = np.full(slots, -1, dtype=np.int64)

    def grow(self, capacity: int) -> None:
        """Make room for `capacity` rows; the owner grows its columns to match."""
        n = self.rows
        for i, col in enumerate(self.keys):
            wider = np.zeros(capacity, dtype=U64)
            wider[:n] = col[:n]
            self.keys[i] = wider
        hashes = np.zeros(capacity, dtype=U64)
        hashes[:n] = self.hashes[:n]
        self.hashes = hashes
        self._index(capacity)
        self._place(np.arange(n))

    def room(self, extra: int) -> int:
        """The capacity to grow to before `extra` more rows can come (0: they fit)."""
        need = self.rows + extra
        return 0 if need <= self.capacity else max(need, 2 * self.capacity)

    def clear(self) -> None:
        """Forget every row, keeping the memory."""
        self.rows = 0
        self.slot_row.fill(-1)

    def keep(self, live: np.ndarray) -> None:
        """Compact to the rows `live` (sorted); the owner compacts its columns the same way."""
        n = len(live)
        for col in self.keys:
            col[:n] = col[live]
        self.hashes[:n] = self.hashes[live]
        self.rows = n
        self.slot_row.fill(-1)
        self._place(np.arange(n))

    def _place(self, rows: np.ndarray) -> None:
        """Put rows whose keys are distinct and not yet indexed into free slots."""
        slot = (self.hashes[rows] & U64(self.mask)).astype(np.int64)
        pending = np.arange(len(rows))
        while len(pending):
            s = slot[pending]
            free = np.flatnonzero(self.slot_row[s] < 0)
            if len(free):
                _, first = np.unique(s[free], return_index=True)
                win = free[first]
                self.slot_row[s[win]] = rows[pending[win]]
                placed = np.zeros(len(pending), dtype=bool)
                placed[win] = True
                pending = pending[~placed]
            slot[pending] = (slot[pending] + 1) & self.mask

    def lookup(self, cols: list[np.ndarray], hashes: np.ndarray, insert: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the keys `cols` (repeats allowed) and which keys were inserted now.

        With insert=False, missing keys get row -1. Callers make room first (`room`).
        """
        m = len(hashes)
        out = np.full(m, -1, dtype=np.int64)
        new = np.zeros(m, dtype=bool)
        mask = self.mask
        slot = (hashes & U64(mask)).astype(np.int64)
        pending = np.arange(m)
        while len(pending):
            s = slot[pending]
            row = self.slot_row[s]
            empty = row < 0
            hit = np.zeros(len(pending), dtype=bool)
            occupied = np.flatnonzero(~empty)
            if len(occupied):
                ro, po = row[occupied], pending[occupied]
                same = self.hashes[ro] == hashes[po]
                for key, col in zip(self.keys, cols, strict=True):
                    same &= key[ro] == col[po]
                found = occupied[same]
                out[pending[found]] = row[found]
                hit[found] = True
            resolved = hit
            if empty.any():
                free = np.flatnonzero(empty)
                if insert:
                    _, first = np.unique(s[free], return_index=True)
                    win = free[first]
                    keyi = pending[win]
                    rows = np.arange(self.rows, self.rows + len(win))
                    self.rows += len(win)
                    for key, col in zip(self.keys, cols, strict=True):
                        key[rows] = col[keyi]
                    self.hashes[rows] = hashes[keyi]
                    self.slot_row[s[win]] = rows
                    out[keyi] = rows
                    new[keyi] = True
                    resolved[win] = True
                else:
                    resolved |= empty
            advance = pending[~empty & ~hit]
            slot[advance] = (slot[advance] + 1) & mask
            pending = pending[~resolved]
        return out, new
