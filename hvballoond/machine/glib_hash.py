"""The iteration order of a GLib string-keyed hash table (``/objects`` children).

QEMU keeps an object's child properties in a ``GHashTable`` and both ``query-memdev`` and
``qom-list /objects`` walk it, prepending each entry, so clients see the *reverse* of
GLib's bucket order (machine-memory.md §5.8). This module simulates GLib's open-addressing
table (GLib >= 2.60, as linked by the reference binary): quadratic probing, tombstones on
removal, and the grow/shrink/clean-up rehash with its in-place relocation, so the order stays
exact after deletions and growth. Checked against the reference binary with up to 8 children,
deletions and one resize (tests/machine/recorded/objects-order.txt).

Two details the spec's informative model leaves out: the bucket index is
``(hash * 11) mod 2^32 mod prime`` (``guint`` arithmetic), and a rehash happens when the
occupied buckets, tombstones included, fill the table (``size <= occupied + occupied/16``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["ChildOrder", "g_str_hash"]

_MIN_SHIFT: Final = 3
_UNUSED: Final = 0
_TOMBSTONE: Final = 1
# GLib's prime_mod[] table, indexed by shift.
_PRIME_MOD: Final = (
    1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521,
    131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393,
    67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647,
)  # fmt: skip


def g_str_hash(key: str) -> int:
    """GLib's ``g_str_hash`` (djb2 over the UTF-8 bytes, 32-bit)."""
    value = 5381
    for byte in key.encode():
        signed = byte - 256 if byte >= 128 else byte  # GLib walks signed chars
        value = (value * 33 + signed) & 0xFFFFFFFF
    return value


def _stored_hash(key: str) -> int:
    value = g_str_hash(key)
    return 2 if value <= 1 else value


class ChildOrder:
    """Tracks insertion/removal of keys and yields GLib's iteration order."""

    def __init__(self) -> None:
        self._set_shift(_MIN_SHIFT)
        self._hashes: list[int] = [_UNUSED] * self._size
        self._keys: list[str | None] = [None] * self._size
        self._nnodes = 0
        self._noccupied = 0
        # Bumped by every insertion and removal: the order may differ after either.
        self.version = 0

    def _set_shift(self, shift: int) -> None:
        self._shift = shift
        self._size = 1 << shift
        self._mod = _PRIME_MOD[shift]
        self._mask = self._size - 1

    def _index(self, hash_value: int) -> int:
        return ((hash_value * 11) & 0xFFFFFFFF) % self._mod

    def _lookup(self, key: str) -> tuple[int, bool]:
        """(slot, found): the key's slot, else the first tombstone or the empty slot."""
        hash_value = _stored_hash(key)
        index = self._index(hash_value)
        step = 0
        first_tombstone = -1
        while self._hashes[index] != _UNUSED:
            if self._hashes[index] == hash_value and self._keys[index] == key:
                return index, True
            if self._hashes[index] == _TOMBSTONE and first_tombstone < 0:
                first_tombstone = index
            step += 1
            index = (index + step) & self._mask
        return (first_tombstone if first_tombstone >= 0 else index), False

    def insert(self, key: str) -> None:
        """Record that ``key`` was added."""
        slot, found = self._lookup(key)
        if found:
            return
        was_unused = self._hashes[slot] == _UNUSED
        self.version += 1
        self._hashes[slot] = _stored_hash(key)
        self._keys[slot] = key
        self._nnodes += 1
        if was_unused:
            self._noccupied += 1
            self._maybe_resize()

    def remove(self, key: str) -> None:
        """Record that ``key`` was removed."""
        slot, found = self._lookup(key)
        if not found:
            return
        self.version += 1
        self._hashes[slot] = _TOMBSTONE
        self._keys[slot] = None
        self._nnodes -= 1
        self._maybe_resize()

    def _maybe_resize(self) -> None:
        size, occupied = self._size, self._noccupied
        if (size > self._nnodes * 4 and size > 1 << _MIN_SHIFT) or (
            size <= occupied + occupied // 16
        ):
            self._resize()

    def _resize(self) -> None:
        # g_hash_table_resize: new size from nnodes * 1.333, then in-place relocation.
        old_size = self._size
        target = int(self._nnodes * 1.333)
        shift = 0
        while target:
            target >>= 1
            shift += 1
        self._set_shift(max(shift, _MIN_SHIFT))
        if self._size > old_size:
            self._hashes += [_UNUSED] * (self._size - old_size)
            self._keys += [None] * (self._size - old_size)
        placed = [False] * max(self._size, old_size)
        for i in range(old_size):
            node_hash = self._hashes[i]
            if node_hash <= _TOMBSTONE:
                self._hashes[i] = _UNUSED
                self._keys[i] = None
                continue
            if placed[i]:
                continue
            key = self._keys[i]
            self._hashes[i] = _UNUSED
            self._keys[i] = None
            while True:
                index = self._index(node_hash)
                step = 0
                while placed[index]:
                    step += 1
                    index = (index + step) & self._mask
                placed[index] = True
                replaced_hash, replaced_key = self._hashes[index], self._keys[index]
                self._hashes[index], self._keys[index] = node_hash, key
                if replaced_hash <= _TOMBSTONE:
                    break
                node_hash, key = replaced_hash, replaced_key
        if self._size < old_size:
            del self._hashes[self._size :]
            del self._keys[self._size :]
        self._noccupied = self._nnodes

    def order(self) -> list[str]:
        """Keys in GLib iteration order (bucket 0 upwards)."""
        return [k for k, h in zip(self._keys, self._hashes, strict=True) if h > 1 and k]
