"""Replica division: exact integer splits with a stable, name-ordered tie-break.

``largest_remainder`` gives each share ``floor(total * w / W)`` and hands the
leftover replicas, one each, to the largest remainders (exact integer
comparison, so no float rounding can change a result); equal remainders go to
the earlier position, and callers always pass clusters in name order.

For Spread with topology domains the split is two-level: replicas are first
divided between domains, then each domain's share among its clusters. The
domain split is then pulled within ``max_skew`` by :func:`balance`.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` proportionally to ``weights`` (all zero -> evenly); the result sums to ``total``."""
    n = len(weights)
    if n == 0:
        return []
    weight_sum = sum(weights)
    if weight_sum == 0 or weights.count(weights[0]) == n:
        share, extra = divmod(total, n)
        return [share + 1] * extra + [share] * (n - extra)
    shares = [total * w // weight_sum for w in weights]
    leftover = total - sum(shares)
    if leftover:
        remainders = [total * w % weight_sum for w in weights]
        for i in heapq.nsmallest(leftover, range(n), key=lambda i: (-remainders[i], i)):
            shares[i] += 1
    return shares


def balance(counts: Sequence[int], max_skew: int) -> list[int]:
    """Move replicas between domains until ``max - min <= max_skew``, keeping the sum.

    Finds the largest floor ``L`` such that clamping every count into
    ``[L, L + max_skew]`` does not exceed the total, clamps, and spends the
    remaining replicas first on domains raised to the floor, then on capped
    ones - the order that keeps the bound. Within each group, domains that
    originally had more come first, then earlier positions. Domains the
    weights already kept within bounds are not touched.
    """
    if not counts:
        return []
    low, high = min(counts), max(counts)
    if high - low <= max_skew:
        return list(counts)
    total = sum(counts)

    def clamped_sum(floor: int) -> int:
        return sum(min(max(c, floor), floor + max_skew) for c in counts)

    lo, hi = low, high
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if clamped_sum(mid) <= total:
            lo = mid
        else:
            hi = mid - 1
    floor = lo
    out = [min(max(c, floor), floor + max_skew) for c in counts]
    deficit = total - sum(out)
    if deficit:
        raised = sorted((i for i, c in enumerate(counts) if c <= floor), key=lambda i: (-counts[i], i))
        capped = sorted((i for i, c in enumerate(counts) if c > floor + max_skew), key=lambda i: (-counts[i], i))
        for i in (raised + capped)[:deficit]:
            out[i] += 1
    return out


def skew(counts: Sequence[int]) -> int:
    return max(counts) - min(counts) if counts else 0
