"""The three fastText heads' forward pass in NumPy, with ONE tokenisation shared by the heads.

fastText's C++ ``predict`` re-reads and re-hashes the line once per head, and that (not the
arithmetic) is most of its cost: three heads at ~25 µs each. The heads of one student are trained on
the same lines, so they have the same vocabulary (in a different id order) and the same n-gram
buckets. This module maps every head onto the first head's word ids once, at load time, folds each
head's output matrix into its input matrix (the output layer is linear: mean(rows) @ W.T equals
mean(rows @ W.T)), stacks the three folded matrices side by side (12 columns: 4 + 3 + 5 classes,
instead of 3 x dim), and then per chunk of lines: normalises the chunk's texts in one pass
(``joined_inputs``), splits once, looks each token up once (plain dict; the word -> row cache also
keeps unknown tokens with their hash), hashes word n-grams exactly as fastText does (FNV-1a over
signed bytes, ``h * 116049371 + h'`` over the int32 hashes sign-extended to 64 bits, modulo
``bucket``), averages the folded rows (sparse 0/1 matrix product) and applies each head's softmax.
Results equal fastText's own ``predict`` (tested to 1e-5); models it cannot reproduce (subword
n-grams, hierarchical softmax / negative sampling, quantised, or heads with different
dictionaries) raise ``Unsupported`` and the caller falls back to the C++ path.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from classifiers.features import _BYTES, _PUNCT, _SPACES, normalise

EOS = "</s>"
_NGRAM_MULT = np.uint64(116049371)


class Unsupported(Exception):
    pass


def fnv1a_int32(word: str) -> int:
    """fastText's Dictionary::hash (bytes as int8, sign-extended), as a signed 32-bit int."""
    h = 2166136261
    for b in word.encode("utf-8"):
        h = ((h ^ ((b - 256) & 0xFFFFFFFF if b >= 128 else b)) * 16777619) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


class _Vocab(dict):
    """token → row in the known-token arrays; unknown tokens are added on first sight."""

    def __init__(self, owner: "SharedForward", words: Sequence[str]):
        super().__init__((w, i) for i, w in enumerate(words))
        self.owner = owner

    def __missing__(self, token: str) -> int:
        return self.owner._add_oov(token)


class SharedForward:
    MAX_OOV = 2_000_000  # forget unknown tokens past this many (memory bound)

    def __init__(self, models: Sequence, classes: Sequence[Sequence[str]], label_prefix: str = "__label__"):
        first = models[0]
        args = [m.f.getArgs() for m in models]
        for a in args:
            if a.maxn > 0 or a.wordNgrams < 1 or str(a.loss) not in ("loss_name.softmax", "softmax") \
                    or a.bucket != args[0].bucket or a.wordNgrams != args[0].wordNgrams:
                raise Unsupported(f"model arguments not supported by the shared forward pass ({a.loss}, maxn={a.maxn})")
        if any(m.f.isQuant() for m in models):
            raise Unsupported("quantised model")
        words = list(first.get_words(on_unicode_error="replace"))
        nwords = len(words)
        self.nwords, self.bucket, self.ngrams = nwords, int(args[0].bucket), int(args[0].wordNgrams)
        index = {w: i for i, w in enumerate(words)}
        blocks, self.heads = [], []
        col = 0
        for m, cls in zip(models, classes):
            mw = m.get_words(on_unicode_error="replace")
            if len(mw) != nwords or set(mw) != index.keys():
                raise Unsupported("heads were trained with different dictionaries")
            mat = m.get_input_matrix()
            if mat.shape[0] != nwords + self.bucket:
                raise Unsupported("unexpected input matrix shape")
            shared = np.empty_like(mat)
            shared[np.fromiter((index[w] for w in mw), np.int64, nwords)] = mat[:nwords]
            shared[nwords:] = mat[nwords:]
            blocks.append(shared)
            labels = list(m.get_labels())
            out = m.get_output_matrix()
            # Rows of the output matrix in the head's fixed class order (absent classes: -inf logit).
            rows = np.full((len(cls), out.shape[1]), 0.0, np.float32)
            present = np.zeros(len(cls), bool)
            for j, c in enumerate(cls):
                if label_prefix + c in labels:
                    rows[j] = out[labels.index(label_prefix + c)]
                    present[j] = True
            self.heads.append((slice(col, col + len(cls)), rows, present))
            col += len(cls)
        # The output layer is linear, so mean(rows) @ W.T == mean(rows @ W.T): fold each head's
        # output matrix into its input matrix once (float64, then float32). A line then sums
        # 12 floats per feature (4 + 3 + 5 classes) instead of 96 (3 heads x dim 32).
        self.EW = np.ascontiguousarray(np.hstack(
            [blk.astype(np.float64) @ rows.T.astype(np.float64) for blk, (_, rows, _) in zip(blocks, self.heads)]
        ).astype(np.float32))
        if EOS not in index:
            raise Unsupported("no end-of-line token in the dictionary")
        self.eos = index[EOS]
        self._words = words
        self._reset_known()

    def _reset_known(self) -> None:
        n = self.nwords
        self.vocab = _Vocab(self, self._words)
        self._index_get = dict.get.__get__(self.vocab)  # plain dict.get: no __missing__ dispatch
        self.word_id = list(range(n))
        self.hash = [fnv1a_int32(w) for w in self._words]
        self._word_id_np = np.arange(n, dtype=np.int64)
        self._hash_np = np.asarray(self.hash, dtype=np.int64)

    def _add_oov(self, token: str) -> int:
        j = len(self.word_id)
        self.vocab[token] = j
        self.word_id.append(-1)
        self.hash.append(fnv1a_int32(token))
        return j

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._word_id_np) != len(self.word_id):
            self._word_id_np = np.asarray(self.word_id, dtype=np.int64)
            self._hash_np = np.asarray(self.hash, dtype=np.int64)
        return self._word_id_np, self._hash_np

    def predict(self, lines: Sequence[str], chunk: int = 1024) -> list[np.ndarray]:
        """Per head, an (n, classes) float32 probability matrix in the given class order."""
        return self._predict(len(lines), lambda lo, hi: (" " + EOS + " ").join(lines[lo:hi]), chunk)

    def predict_texts(self, texts: Sequence[str | None], prefixes: Sequence[str] | None = None,
                      chunk: int = 1024) -> list[np.ndarray]:
        """Like ``predict(build_inputs(...))`` from raw texts: ``prefixes`` are the rows' context
        tokens joined by spaces ("" for none). Normalisation runs once per chunk on the joined
        texts (``joined_inputs``), which yields the same tokens as ``features.normalise`` per line."""
        return self._predict(len(texts), lambda lo, hi: joined_inputs(texts[lo:hi], prefixes and prefixes[lo:hi]),
                             chunk)

    def _predict(self, n: int, joined, chunk: int) -> list[np.ndarray]:
        if len(self.word_id) > self.nwords + self.MAX_OOV:
            self._reset_known()
        outs = [np.empty((n, len(rows)), np.float32) for _, rows, _ in self.heads]
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            logits_all = self._logits(joined(lo, hi), hi - lo)
            for k, (cols, rows, present) in enumerate(self.heads):
                logits = logits_all[:, cols]
                logits[:, ~present] = -np.inf
                logits -= logits.max(axis=1, keepdims=True)
                np.exp(logits, out=logits)
                logits /= logits.sum(axis=1, keepdims=True)
                outs[k][lo:hi] = logits
        return outs

    def _logits(self, joined: str, n_lines: int) -> np.ndarray:
        """All heads' logits for one chunk, given as one string: the lines joined by " </s> "."""
        # One split for the whole chunk; EOS closes every line, as fastText's reader does.
        flat = joined.split()
        flat.append(EOS)
        # Plain-dict lookups (a dict subclass with __missing__ is ~15% slower per token); the few
        # tokens never seen before are added afterwards.
        idx = np.fromiter(map(self._index_get, flat, itertools.repeat(-1)), np.int64, len(flat))
        miss = np.flatnonzero(idx < 0)
        if len(miss):
            vocab = self.vocab  # __missing__ adds a new token (once, even if repeated here)
            idx[miss] = [vocab[flat[i]] for i in miss]
        word_id, hashes = self._arrays()
        wid = word_id[idx]
        h = hashes[idx].view(np.uint64)  # int32 hash sign-extended to 64 bits, as uint64_t h = int32
        is_eos = wid == self.eos
        line_of = np.cumsum(is_eos) - is_eos  # line index of every token (EOS belongs to its line)
        feats, owners = [wid[wid >= 0]], [line_of[wid >= 0]]
        n = len(flat)
        acc = h.copy()
        # Word n-grams never cross a line end: a window may end on the EOS but not start past it.
        ok = np.ones(n, bool)
        for k in range(1, self.ngrams):
            ok[: n - k] &= ~is_eos[k - 1: n - 1]
            ok[n - k:] = False
            with np.errstate(over="ignore"):
                acc = acc[: n - k] * _NGRAM_MULT + h[k:]
            valid = ok[: n - k]
            feats.append(self.nwords + (acc[valid] % np.uint64(self.bucket)).astype(np.int64))
            owners.append(line_of[: n - k][valid])
        # Sum of rows per line = (lines × features) 0/1 sparse matrix @ EW: a C loop over the
        # non-zeros (np.add.reduceat along axis 0 is 5x slower). Each block of features (words,
        # then each n-gram order) is already in line order, so each is a CSR matrix as it stands:
        # no sort of the concatenated features.
        out = np.zeros((n_lines, self.EW.shape[1]), np.float32)
        counts = np.zeros(n_lines, np.int64)
        for ids, own in zip(feats, owners):
            c = np.bincount(own, minlength=n_lines)
            counts += c
            indptr = np.concatenate(([0], np.cumsum(c)))
            out += sparse.csr_matrix((np.ones(len(ids), np.float32), ids, indptr),
                                     shape=(n_lines, self.EW.shape[0])) @ self.EW
        return out / counts[:, None].astype(np.float32)


# ---- normalisation of a whole chunk at once -------------------------------------------------
# features.normalise runs a regex with a Python callback per punctuation mark, per text. Here the
# chunk's texts are joined by a separator that no step changes (\x01: not punctuation, not
# mapped, not cased), lower-cased, split around punctuation by ONE regex split (C) and re-joined
# with spaces, which puts " p " around every mark exactly like the callback, and digit/control
# mapped by one bytes translate. Unicode spaces stay (between spaces) instead of becoming " ":
# str.split() treats them as whitespace, so the tokens are the same.
_SEP_CHAR = "\x01"
_PUNCT_SPLIT = re.compile("([" + re.escape(_PUNCT + _SPACES) + "])")


def joined_inputs(texts: Sequence[str | None], prefixes: Sequence[str] | None = None) -> str:
    """The chunk's student inputs joined by " </s> ": split() gives the tokens of
    ``" </s> ".join(student_input(t, ctx) ...)``."""
    raw = [t or "" for t in texts]
    # ASCII texts and the others are normalised as two groups: one non-ASCII character makes a
    # whole joined string wide (2-4 bytes a character) and sends lower() down its slow path.
    ascii_rows = [t.isascii() for t in raw]
    if all(ascii_rows) or not any(ascii_rows):
        bodies = _normalise_joined(raw)
    else:
        asc = [t for t, a in zip(raw, ascii_rows) if a]
        wide = [t for t, a in zip(raw, ascii_rows) if not a]
        it_a, it_w = iter(_normalise_joined(asc)), iter(_normalise_joined(wide))
        bodies = [next(it_a) if a else next(it_w) for a in ascii_rows]
    sep = " " + EOS + " "
    if prefixes:
        return sep.join(map(" ".join, zip(prefixes, bodies)))
    return sep.join(bodies)


def _normalise_joined(raw: list[str]) -> list[str]:
    """Each text's normalised body (up to whitespace: same tokens as ``features.normalise``)."""
    if not raw:
        return []
    big = _SEP_CHAR.join(raw)
    if big.count(_SEP_CHAR) != len(raw) - 1:  # a text holds the separator: text by text
        return [normalise(t) for t in raw]
    spaced = " ".join(_PUNCT_SPLIT.split(big.lower()))
    return spaced.encode("utf-8", "replace").translate(_BYTES).decode("utf-8", "replace").split(_SEP_CHAR)
