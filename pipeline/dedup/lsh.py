"""The LSH S-curve: probability that a pair of Jaccard similarity s becomes a candidate."""

from __future__ import annotations


def candidate_probability(s: float, bands: int, rows: int) -> float:
    """P(candidate) = 1 − (1 − s^r)^b: at least one of b bands has all its r MinHash values equal."""
    return 1.0 - (1.0 - s ** rows) ** bands


def s_curve_midpoint(bands: int, rows: int) -> float:
    """(1/b)^(1/r): roughly where the S-curve is steepest."""
    return (1.0 / bands) ** (1.0 / rows)


def s_curve_table(bands: int, rows: int,
                  similarities=(0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)) -> list[tuple[float, float]]:
    return [(s, candidate_probability(s, bands, rows)) for s in similarities]
