"""Linear student: hashed word n-grams (+ context tokens) → three softmax heads, one sparse product.

The CPU-speed student. Each paragraph becomes a sparse vector (scikit-learn's
``HashingVectorizer``: word unigrams + bigrams, l2-normalised, 2^18 buckets); the three heads are
one dense (buckets × 12) weight matrix, so scoring all heads is one sparse-dense product plus
three small softmaxes. Training minimises the cross-entropy against *target distributions*, not
only argmax labels: a row's target is its soft probabilities when it has them (the LLM's
``*_probs`` columns, or a teacher's probabilities on unlabelled paragraphs) and one-hot of its
label otherwise. That is what lets it learn from the transformer (distillation) where fastText,
which only takes hard labels, cannot. Fitted with L-BFGS (NumPy, see ``lbfgs``) on the columns the training rows
use, so a fit is deterministic for given rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from classifiers.dataset import Examples
from classifiers.features import TEXT_FEATURES, context_token_rows, split_bucket
from classifiers.heads import HEADS, Head, read_student_card, write_student_card
from classifiers.predictions import Predictions, expected_score

log = logging.getLogger(__name__)

KIND = "linear"
DEFAULT_PARAMS: dict[str, Any] = {
    "n_features": 2 ** 18,
    "ngram_max": 2,
    "min_df": 2,  # a column must occur in this many training rows: singletons (mostly bigrams) are noise
    "l2": 1e-5,  # per-row-averaged loss + l2/2 ||W||²; measured by grouped CV (docs/distill.md)
    "max_iter": 100,  # grouped CV: 100 and 200 agree within 0.004 on every metric; 60 loses 0.04 type F1
    "class_weights": True,  # inverse-sqrt class frequency for document_type and domain
}
WEIGHTS = "weights.npz"


def vectorizer(n_features: int, ngram_max: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    # \w+ keeps one-letter words and the __sec_… context tokens whole; no alternate sign: the
    # weights absorb collisions more gently when all hashed counts are positive.
    return HashingVectorizer(n_features=n_features, ngram_range=(1, ngram_max), alternate_sign=False,
                             norm="l2", token_pattern=r"(?u)\b\w+\b", dtype=np.float32)


def student_lines(texts: Sequence[str | None], context: Mapping[str, Sequence[Any]] | None,
                  use: Sequence[str], keys: Sequence[str] | None = None, dropout: float = 0.0,
                  seed: int = 0) -> list[str]:
    """Context tokens (same ones as the other students) before the raw text; ``dropout`` of the
    rows (by key hash) are shown without the column features so the model also works without
    context columns (text features such as ``length`` are always there)."""
    full = context_token_rows(texts, context, use)
    if full is None:
        return [t or "" for t in texts]
    dropping = dropout > 0 and keys is not None
    plain = context_token_rows(texts, None, use, columns=False) if dropping else None
    out = []
    for i, t in enumerate(texts):
        toks = full[i]
        if dropping and split_bucket(keys[i], seed + 7919) < dropout:
            toks = plain[i] if plain is not None else []
        out.append(f"{' '.join(toks)} {t or ''}" if toks else (t or ""))
    return out


def target_matrix(head: Head, ex: Examples) -> np.ndarray:
    """(n, classes) target distributions: the row's soft probabilities when present and valid,
    else one-hot of its label."""
    k = len(head.classes)
    out = np.zeros((len(ex), k), dtype=np.float64)
    labels = ex.labels[head.name]
    soft = ex.soft.get(head.name) if ex.soft else None
    for i, lab in enumerate(labels):
        q = soft[i] if soft is not None else None
        if q is not None and len(q) == k and all(x is not None and x >= 0 for x in q) and sum(q) > 0:
            out[i] = np.asarray(q, dtype=np.float64) / float(sum(q))
        else:
            out[i, head.classes.index(lab)] = 1.0
    return out


def _fit_heads(X: sparse.csr_matrix, Qs: list[np.ndarray], ws: list[np.ndarray], l2: float,
               max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression of every head at once (one sparse product per step for
    all 12 outputs) against target distributions ``Qs`` with row weights ``ws`` → (W, b). The
    heads' losses are independent, so the joint optimum is each head's own."""
    n, d = X.shape
    sizes = [Q.shape[1] for Q in Qs]
    k = sum(sizes)
    bounds = np.cumsum([0, *sizes])
    ws = [w / w.sum() for w in ws]
    Xt = X.T.tocsr()

    def loss_grad(theta):
        W = theta[: d * k].reshape(d, k)
        Z = X @ W + theta[d * k:]
        G = np.empty_like(Z)
        loss = 0.5 * l2 * (W * W).sum()
        for h, (Q, w) in enumerate(zip(Qs, ws)):
            z = Z[:, bounds[h]:bounds[h + 1]]
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss -= (w[:, None] * Q * logp).sum()
            G[:, bounds[h]:bounds[h + 1]] = w[:, None] * (np.exp(logp) - Q)
        gW = Xt @ G + l2 * W
        return loss, np.concatenate([gW.ravel(), G.sum(axis=0)])

    x = lbfgs(loss_grad, np.zeros(d * k + k), max_iter)
    return x[: d * k].reshape(d, k), x[d * k:]


def lbfgs(fun, x0: np.ndarray, max_iter: int, memory: int = 10, tol: float = 1e-7) -> np.ndarray:
    """Unbounded L-BFGS (two-loop recursion, backtracking Armijo line search) in NumPy.

    Why not scipy's L-BFGS-B: its Fortran bookkeeping for bounds cost 0.5 s per iteration on the
    1.5M parameters of three heads over ~120k active n-gram columns (8x the gradient itself); this
    loop costs a few vector operations per iteration. Deterministic for given inputs."""
    x = x0.astype(np.float64)
    f, g = fun(x)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    for _ in range(max_iter):
        q = g.copy()
        alphas = []
        for s_, y_ in zip(reversed(s_hist), reversed(y_hist)):
            a = s_ @ q / (y_ @ s_)
            alphas.append(a)
            q -= a * y_
        if s_hist:
            q *= (s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1])
        else:
            q /= max(np.linalg.norm(g), 1e-12)
        for (s_, y_), a in zip(zip(s_hist, y_hist), reversed(alphas)):
            q += s_ * (a - (y_ @ q) / (y_ @ s_))
        direction = -q
        slope = g @ direction
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_hist, y_hist = [], []
            direction, slope = -g, -(g @ g)
        step = 1.0
        while True:
            x_new = x + step * direction
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s_vec, y_vec = x_new - x, g_new - g
        if y_vec @ s_vec > 1e-12:
            s_hist.append(s_vec)
            y_hist.append(y_vec)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        converged = abs(f - f_new) <= tol * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if converged or np.abs(g).max() < 1e-6:
            break
    return x


def predict_in_chunks(texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None,
                      context_features: Sequence[str], logits: Callable[[list[str]], np.ndarray],
                      step: int = 8192) -> Predictions:
    """A linear-headed student's predictions: ``logits`` of its input lines, ``step`` rows at a
    time (bounded memory), through the three heads."""
    if len(texts) == 0:
        return Predictions.concat([])
    parts = []
    for i in range(0, len(texts), step):
        ctx = {k: v[i:i + step] for k, v in (context or {}).items() if v is not None}
        parts.append(heads_predictions(logits(student_lines(texts[i:i + step], ctx, context_features))))
    return Predictions.concat(parts)


def training_setup(kind: str, defaults: dict[str, Any], train: Examples, params: dict[str, Any] | None,
                   context_features: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """What a linear-headed student (linear, static) trains with: ``defaults`` overlaid by the
    given settings (None keeps the default), and the context features its rows carry; no rows is
    an error."""
    p = {**defaults, **{k: v for k, v in (params or {}).items() if v is not None}}
    if len(train) == 0:
        raise ValueError(f"{kind} student: no training rows")
    return p, [c for c in context_features if c in train.context or c in TEXT_FEATURES]


def _row_weights(head: Head, Q: np.ndarray, use: bool) -> np.ndarray:
    if not use:
        return np.ones(len(Q))
    counts = np.maximum(Q.sum(axis=0), 1.0)
    cw = np.sqrt(counts.sum() / counts)
    cw /= cw.mean()
    return Q @ cw


class LinearStudent:
    kind = KIND

    def __init__(self, W: np.ndarray, b: np.ndarray, context_features: Sequence[str] = (),
                 params: dict[str, Any] | None = None, meta: dict | None = None):
        self.W = np.ascontiguousarray(W, dtype=np.float32)  # (n_features, 4 + 3 + 5)
        self.b = np.asarray(b, dtype=np.float32)
        self.context_features = tuple(context_features)
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.meta = meta or {}
        self.version = self.meta.get("version", "unsaved")
        self._vec = vectorizer(self.params["n_features"], self.params["ngram_max"])

    # ---- training -------------------------------------------------------------------------
    @classmethod
    def train(cls, train: Examples, params: dict[str, Any] | None = None, context_features: Sequence[str] = (),
              context_dropout: float = 0.25, seed: int = 0) -> "LinearStudent":
        p, use = training_setup("linear", DEFAULT_PARAMS, train, params, context_features)
        lines = student_lines(train.text, train.context, use, train.key, context_dropout, seed)
        X = vectorizer(p["n_features"], p["ngram_max"]).transform(lines).astype(np.float64).tocsr()
        # Fit on the columns that enough rows use: the full hash space is mostly empty, and a column
        # seen in one row only (half of them) cannot generalise but doubles the parameters.
        cols, df = np.unique(X.indices, return_counts=True)
        cols = cols[df >= p["min_df"]]
        Xc = X[:, cols].tocsr()
        Qs, ws = head_targets(train, p["class_weights"])
        n_soft = {h.name: int(sum(1 for q in (train.soft.get(h.name) or []) if q is not None)) for h in HEADS}
        from threadpoolctl import threadpool_limits

        # One BLAS thread: the vectors are small enough that OpenBLAS's threads only spin against
        # each other (12x slower on a loaded 2-core machine), and one thread keeps fits reproducible.
        with threadpool_limits(limits=1, user_api="blas"):
            Wc, b = _fit_heads(Xc, Qs, ws, p["l2"], p["max_iter"])
        W = np.zeros((p["n_features"], Wc.shape[1]), dtype=np.float32)
        W[cols] = Wc
        meta = {"n_train": len(train), "n_soft_targets": n_soft, "context_dropout": context_dropout,
                "active_features": int(len(cols))}
        return cls(W, b, use, p, meta)

    # ---- inference ------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None = None,
                batch_size: int | None = None) -> Predictions:
        """All three heads with one hashing pass and one sparse product (``batch_size`` is for
        interface parity; rows are scored in chunks of 8,192 to bound memory)."""
        return predict_in_chunks(texts, context, self.context_features,
                                 lambda lines: self._vec.transform(lines) @ self.W + self.b)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], extra: dict | None = None) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        # Only the used rows are stored (the rest are zero): a few MB instead of 12.
        rows = np.flatnonzero(np.any(self.W != 0, axis=1)).astype(np.int32)
        target = path / WEIGHTS
        with open(target, "wb") as fh:
            np.savez(fh, rows=rows, W=self.W[rows], b=self.b)
        self.version = f"{KIND}-{hashlib.sha1(target.read_bytes()).hexdigest()[:12]}"
        self.meta = write_student_card(path, KIND, self.version, self.meta, extra, self.context_features,
                                       self.params,
                                       features="hashed word 1-2-grams (sklearn HashingVectorizer, l2) + context tokens")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "LinearStudent":
        path = Path(path)
        card = read_student_card(path, KIND)
        params = {**DEFAULT_PARAMS, **card.get("params", {})}
        with np.load(path / WEIGHTS) as z:
            W = np.zeros((params["n_features"], sum(len(h.classes) for h in HEADS)), dtype=np.float32)
            W[z["rows"]] = z["W"]
            b = z["b"]
        return cls(W, b, card.get("context_features", []), params, card)


def head_targets(train: Examples, class_weights: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per head: target distributions and row weights, as the linear student fits them."""
    Qs, ws = [], []
    for head in HEADS:
        Q = target_matrix(head, train)
        w = _row_weights(head, Q, class_weights and head.name != "educational_score")
        if train.weight:
            w = w * np.asarray(train.weight, dtype=np.float64)
        Qs.append(Q)
        ws.append(w)
    return Qs, ws


def heads_predictions(Z: np.ndarray) -> Predictions:
    """Softmax per head over the concatenated logits (heads.py order)."""
    probs = []
    start = 0
    for head in HEADS:
        z = Z[:, start:start + len(head.classes)]
        start += len(head.classes)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        probs.append((e / e.sum(axis=1, keepdims=True)).astype(np.float32))
    return Predictions(probs[0], probs[1], expected_score(probs[2]), probs[2])
