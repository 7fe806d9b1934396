"""Exact Jaccard similarity (the verification of LSH candidates)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def jaccard(a: Iterable, b: Iterable) -> float:
    """|A ∩ B| / |A ∪ B| of two collections taken as sets; 0.0 when both are empty."""
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    return len(sa & sb) / union if union else 0.0


def jaccard_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two arrays of distinct values (e.g. stored shingle-hash sets)."""
    inter = np.intersect1d(a, b, assume_unique=True).size
    union = a.size + b.size - inter
    return inter / union if union else 0.0
