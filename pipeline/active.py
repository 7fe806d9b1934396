"""Active-learning selection: which unlabelled paragraphs the LLM should label next.

Pure NumPy, no Spark and no model: callers give the current student's per-head class
probabilities (``classifiers`` predict interface) and, for ``diverse``, a feature vector per
candidate. Every choice is deterministic for the same inputs and seed (ties and the random share
follow ``sampling.order_key``, a hash of seed and paragraph id).

- ``uncertainty``: the least sure rows first. Per head, normalised entropy (H / log K, in [0, 1])
  or 1 - margin (top-1 minus top-2 probability); the heads' values are averaged.
- ``diverse``: farthest-first traversal (greedy k-center) over the features of the most uncertain
  ``candidates × size`` rows, measured from what is already labelled, so a batch covers the corpus
  instead of 250 near-copies of one confusing paragraph.
- Both keep ``random_share`` of the batch uniformly random from the rest of the pool, so the
  labelled set still estimates the true distribution (calibration, evaluation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.sampling import order_key

STRATEGIES = ("stratified", "uncertainty", "diverse")


def head_uncertainty(probs: np.ndarray, method: str = "entropy") -> np.ndarray:
    """One head's uncertainty per row in [0, 1]: normalised entropy, or 1 - margin."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"class probabilities must be (n, k>=2), got {p.shape}")
    p = np.clip(p, 0.0, 1.0)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    if method == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        return h / np.log(p.shape[1])
    if method == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    raise ValueError(f"unknown uncertainty method {method!r} (entropy or margin)")


def uncertainty(head_probs: Mapping[str, np.ndarray], method: str = "entropy",
                weights: Mapping[str, float] | None = None) -> np.ndarray:
    """The heads' uncertainties combined: a weighted mean (equal weights by default)."""
    if not head_probs:
        raise ValueError("no head probabilities given")
    names = sorted(head_probs)
    w = np.array([float((weights or {}).get(n, 1.0)) for n in names])
    if w.sum() <= 0:
        raise ValueError("head weights must leave at least one head with a weight > 0")
    stacked = np.stack([head_uncertainty(head_probs[n], method) for n in names], axis=1)
    return stacked @ (w / w.sum())


def _hash_order(ids: Sequence[str], seed: int) -> np.ndarray:
    """Row indices in the order of order_key(seed, id): a seeded shuffle that depends on ids only."""
    keys = [order_key(seed, str(i)) for i in ids]
    return np.array(sorted(range(len(ids)), key=lambda i: (keys[i], str(ids[i]))), dtype=np.int64)


def _split(size: int, n: int, random_share: float) -> tuple[int, int]:
    size = max(0, min(int(size), n))
    n_random = int(round(size * float(random_share)))
    return size - n_random, n_random


def _uncertainty_order(ids: Sequence[str], scores: np.ndarray, seed: int):
    """(the seeded hash order, each row's rank in it, rows most uncertain first): ties are broken by
    the seeded hash order, never by input order."""
    shuffled = _hash_order(ids, seed)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[shuffled] = np.arange(len(ids))
    return shuffled, rank, np.lexsort((rank, -scores))


def select_uncertain(ids: Sequence[str], scores: np.ndarray, size: int, random_share: float = 0.1,
                     seed: int = 0) -> list[tuple[int, str]]:
    """``size`` rows: the most uncertain (``"uncertainty"``) and a ``random_share`` drawn uniformly
    from the others (``"random"``). Returns (row index, strategy) pairs in selection order."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(ids):
        raise ValueError("ids and scores differ in length")
    n_top, n_random = _split(size, len(ids), random_share)
    shuffled, rank, by_score = _uncertainty_order(ids, scores, seed)
    chosen = [(int(i), "uncertainty") for i in by_score[:n_top]]
    taken = {i for i, _ in chosen}
    chosen += [(int(i), "random") for i in shuffled if int(i) not in taken][:n_random]
    return chosen


def k_center(features: np.ndarray, size: int, labelled: np.ndarray | None = None, seed_order: np.ndarray | None = None
             ) -> list[int]:
    """Greedy k-center (farthest-first) on L2-normalised rows: each pick is the row farthest from
    everything labelled or picked so far. Without labelled rows the first pick is ``seed_order[0]``
    (default row 0). Cost O(n · size · d)."""
    x = _normalise(np.asarray(features, dtype=np.float32))
    n = len(x)
    size = max(0, min(int(size), n))
    if size == 0:
        return []
    if labelled is not None and len(labelled):
        min_d = np.full(n, np.inf, dtype=np.float32)
        lab = _normalise(np.asarray(labelled, dtype=np.float32))
        for start in range(0, len(lab), 2048):  # blocks: bounded memory for a big labelled set
            block = lab[start:start + 2048]
            min_d = np.minimum(min_d, _sq_dist(x, block).min(axis=1))
        first = None
    else:
        min_d = np.full(n, np.inf, dtype=np.float32)
        first = int(seed_order[0]) if seed_order is not None and len(seed_order) else 0
    picks: list[int] = []
    order_rank = np.empty(n, dtype=np.int64)
    order_rank[seed_order if seed_order is not None else np.arange(n)] = np.arange(n)
    while len(picks) < size:
        if first is not None:
            i, first = first, None
        else:
            best = min_d.max()
            tied = np.flatnonzero(min_d == best)
            i = int(tied[np.argmin(order_rank[tied])])  # deterministic tie-break
        picks.append(i)
        min_d = np.minimum(min_d, _sq_dist(x, x[i:i + 1])[:, 0])
        min_d[i] = -np.inf
    return picks


def select_diverse(ids: Sequence[str], scores: np.ndarray, features: np.ndarray, size: int,
                   labelled_features: np.ndarray | None = None, random_share: float = 0.1, candidates: int = 4,
                   seed: int = 0) -> list[tuple[int, str]]:
    """``size`` rows spread by k-center over the ``candidates × size`` most uncertain rows
    (``candidates=0``: over the whole pool), plus a ``random_share`` drawn uniformly from the rest."""
    scores = np.asarray(scores, dtype=np.float64)
    if not (len(ids) == len(scores) == len(features)):
        raise ValueError("ids, scores and features differ in length")
    n_spread, n_random = _split(size, len(ids), random_share)
    shuffled, rank, by_score = _uncertainty_order(ids, scores, seed)
    pool = by_score if candidates <= 0 else by_score[: max(n_spread, candidates * n_spread)]
    local_order = np.argsort(rank[pool], kind="stable")  # the seeded order within the candidates
    picked = k_center(np.asarray(features)[pool], n_spread, labelled_features, seed_order=local_order)
    chosen = [(int(pool[i]), "diverse") for i in picked]
    taken = {i for i, _ in chosen}
    chosen += [(int(i), "random") for i in shuffled if int(i) not in taken][:n_random]
    return chosen


def select_random(ids: Sequence[str], size: int, seed: int = 0) -> list[tuple[int, str]]:
    return [(int(i), "random") for i in _hash_order(ids, seed)[: max(0, min(int(size), len(ids)))]]


def _normalise(x: np.ndarray) -> np.ndarray:
    if x.ndim != 2:
        raise ValueError(f"features must be (n, d), got {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between unit rows: 2 - 2 a·b (clipped at 0)."""
    return np.maximum(0.0, 2.0 - 2.0 * (a @ b.T))
