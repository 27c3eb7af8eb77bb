"""Bitset helpers: a set of clusters is a Python ``int`` whose bit *i* is cluster *i*.

Clusters are indexed in name order, so "lowest set bits" means "first by
name", which is exactly the engine's tie-break. ``&``/``|``/``bit_count`` on
ints run in C over 64-bit words, which is what makes filtering 10,000 clusters
cost microseconds; the conversions below avoid per-bit Python loops by going
through ``bytes.translate`` and ``itertools.compress``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Sequence
from itertools import compress, repeat
from typing import TypeVar

_T = TypeVar("_T")

_ASCII_TO_FLAG = bytes.maketrans(b"01", b"\x00\x01")
_FLAG_TO_ASCII = bytes.maketrans(b"\x00\x01", b"01")
_FEW = 16


def _flags(mask: int) -> bytes:
    """Byte *i* is 1 iff bit *i* is set."""
    return format(mask, "b")[::-1].encode("ascii").translate(_ASCII_TO_FLAG)


def _peel(mask: int, count: int) -> list[int]:
    out: list[int] = []
    while mask and len(out) < count:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def indices(mask: int) -> list[int]:
    """Set bit positions in ascending order."""
    if not mask:
        return []
    # Sparse masks (the usual decision) are cheaper to peel than to render in full.
    if mask.bit_count() <= _FEW:
        return _peel(mask, _FEW)
    flags = _flags(mask)
    return list(compress(range(len(flags)), flags))


def pick(items: Sequence[_T], mask: int) -> list[_T]:
    """``[items[i] for i in indices(mask)]`` without the Python-level loop."""
    if not mask:
        return []
    if mask.bit_count() <= _FEW:
        return [items[i] for i in _peel(mask, _FEW)]
    return list(compress(items, _flags(mask)))


def lowest(mask: int, count: int) -> list[int]:
    """The ``count`` lowest set bit positions (fewer if the mask runs out)."""
    if count <= 0 or not mask:
        return []
    if count <= _FEW:
        return _peel(mask, count)
    return indices(mask)[:count]


def nth(mask: int, n: int) -> int:
    """Position of the ``n``-th (0-based) set bit; ``n`` must be < ``mask.bit_count()``.

    Binary search on prefix popcounts: O(log bits) word-level operations.
    """
    lo, hi = 0, mask.bit_length()
    while lo < hi:
        mid = (lo + hi) // 2
        if (mask & ((1 << (mid + 1)) - 1)).bit_count() > n:
            hi = mid
        else:
            lo = mid + 1
    return lo


def next_set(mask: int, start: int) -> int | None:
    """Position of the first set bit at or after ``start``, if any."""
    rest = mask >> start
    if not rest:
        return None
    return start + (rest & -rest).bit_length() - 1


def from_flags(flags: Iterable[bool | int]) -> int:
    """Mask with bit *i* set iff ``flags[i]`` is true (values must be 0/1/bool)."""
    return from_flag_bytes(bytes(flags))


def from_flag_bytes(data: bytes) -> int:
    """Mask with bit *i* set iff byte *i* is 1 (bytes must be 0 or 1)."""
    if not data:
        return 0
    return int(data[::-1].translate(_FLAG_TO_ASCII), 2)


def from_indices(positions: Collection[int], size: int) -> int:
    if len(positions) <= _FEW:
        mask = 0
        for i in positions:
            mask |= 1 << i
        return mask
    flags = bytearray(size)
    # Drain a C-level map of setitem calls: the loop never runs Python bytecode per position.
    deque(map(flags.__setitem__, positions, repeat(1)), maxlen=0)
    return from_flag_bytes(bytes(flags))


def bit(i: int) -> int:
    return 1 << i
