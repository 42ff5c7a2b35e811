"""A hash table over numpy arrays: maps integer keys to row numbers, a batch at a time.

The flow and address tables see every packet, so their lookups must be vector
operations too. Keys are rows of a few uint64 columns; the table is open
addressing with linear probing. A batch of keys is looked up (and the missing ones
inserted) in a few passes, each pass resolving every key whose probe hit its own key
or an empty slot; keys that collided move one slot on. Rows live in dense arrays
that the owner extends with its own columns; removing rows rebuilds the index,
which owners do in bulk (idle-flow sweeps), never per packet.
"""

from __future__ import annotations

import numpy as np

U64 = np.uint64
_M1 = U64(0xFF51AFD7ED558CCD)
_M2 = U64(0xC4CEB9FE1A85EC53)
_SEED = U64(0x9E3779B97F4A7C15)


def hash_columns(cols: list[np.ndarray]) -> np.ndarray:
    """A 64-bit mix of the key columns (murmur3's finaliser after each column)."""
    h = np.full(len(cols[0]), _SEED, dtype=U64)
    with np.errstate(over="ignore"):
        for c in cols:
            h ^= c.astype(U64, copy=False)
            h ^= h >> U64(33)
            h *= _M1
            h ^= h >> U64(33)
            h *= _M2
            h ^= h >> U64(33)
    return h


class VecTable:
    """Key columns -> dense row numbers. Row payload columns belong to the owner."""

    def __init__(self, width: int, capacity: int = 1 << 16) -> None:
        self.width = width
        self.rows = 0  # rows in use: 0 .. rows-1 (holes are allowed after `keep`)
        self.keys = np.zeros((capacity, width), dtype=U64)
        self.hashes = np.zeros(capacity, dtype=U64)
        self._index(capacity)

    @property
    def capacity(self) -> int:
        return len(self.hashes)

    def _index(self, capacity: int) -> None:
        slots = 1 << max(4, (2 * capacity - 1).bit_length())
        self.mask = slots - 1
        self.slot_row = np.full(slots, -1, dtype=np.int64)

    def grow(self, capacity: int) -> None:
        """Make room for `capacity` rows; the owner grows its columns to match."""
        keys = np.zeros((capacity, self.width), dtype=U64)
        keys[: self.rows] = self.keys[: self.rows]
        hashes = np.zeros(capacity, dtype=U64)
        hashes[: self.rows] = self.hashes[: self.rows]
        self.keys, self.hashes = keys, hashes
        self._reindex(np.arange(self.rows))

    def _reindex(self, live: np.ndarray) -> None:
        self._index(self.capacity)
        if len(live):
            self._place(live)

    def _place(self, rows: np.ndarray) -> None:
        """Put rows (whose keys are distinct and not in the index) into free slots."""
        slot = (self.hashes[rows] & U64(self.mask)).astype(np.int64)
        pending = np.arange(len(rows))
        while len(pending):
            s = slot[pending]
            free = self.slot_row[s] < 0
            cand = pending[free]
            if len(cand):
                _, first = np.unique(slot[cand], return_index=True)
                win = cand[first]
                self.slot_row[slot[win]] = rows[win]
                placed = np.zeros(len(rows), dtype=bool)
                placed[win] = True
                pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & self.mask

    def lookup(self, keys: np.ndarray, hashes: np.ndarray, insert: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Rows of `keys` (distinct rows of a (m, width) array) and which were inserted.

        With insert=False, missing keys get row -1. The caller guarantees room for
        the new rows (see `room`).
        """
        m = len(keys)
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
                same = occupied[self.hashes[row[occupied]] == hashes[pending[occupied]]]
                if len(same):
                    equal = same[(self.keys[row[same]] == keys[pending[same]]).all(axis=1)]
                    out[pending[equal]] = row[equal]
                    hit[equal] = True
            resolved = hit
            if empty.any():
                free = np.flatnonzero(empty)
                if insert:
                    # Keys racing for one empty slot: the first wins, the others stay
                    # on the slot, see the winner next pass and move on.
                    _, first = np.unique(s[free], return_index=True)
                    win = free[first]
                    keyi = pending[win]
                    rows = np.arange(self.rows, self.rows + len(win))
                    self.rows += len(win)
                    self.keys[rows] = keys[keyi]
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

    def clear(self) -> None:
        """Forget every row, keeping the memory."""
        self.rows = 0
        self.slot_row.fill(-1)

    def room(self, extra: int) -> int:
        """Capacity needed for `extra` more rows (0 if they fit)."""
        need = self.rows + extra
        return 0 if need <= self.capacity else max(need, 2 * self.capacity)

    def keep(self, live: np.ndarray) -> np.ndarray:
        """Compact to the rows `live` (sorted); returns old row -> new row (-1 for dropped).

        The owner must apply the same compaction to its columns: new = old[live].
        """
        remap = np.full(self.rows, -1, dtype=np.int64)
        remap[live] = np.arange(len(live))
        n = len(live)
        self.keys[:n] = self.keys[live]
        self.hashes[:n] = self.hashes[live]
        self.rows = n
        self._reindex(np.arange(n))
        return remap
