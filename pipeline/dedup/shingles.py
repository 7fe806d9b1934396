"""Word n-gram shingles and their 64-bit hashes.

Hashing one shingle at a time in Python (``sha1`` of the joined words, datasketch's default) costs
more than the MinHash itself, so shingles are hashed in bulk with numpy: every word gets a
polynomial hash of its UTF-8 bytes (computed for a whole batch of documents at once), and a shingle
hash combines the hashes of its n words. ``shingle_hash`` is the same function for one shingle in
pure Python; it is what datasketch's ``MinHash(hashfunc=...)`` gets in the compatibility tests, so the
fast signatures equal datasketch's bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_M64 = (1 << 64) - 1
_P = 0x100000001B3  # FNV-64 prime: multiplier of the per-byte polynomial
# One odd multiplier per position inside a shingle (order-sensitive combination), from splitmix64.
_POSITION_KEYS_INT = [
    0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F,
    0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3, 0x1D8E4E27C47D124F, 0xC2B2AE3D27D4EB4F,
]
_C1, _C2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53  # MurmurHash3 fmix64

_POW = np.cumprod(np.concatenate([[1], np.full(4095, _P, dtype=np.uint64)]).astype(np.uint64), dtype=np.uint64)


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * _C1) & _M64
    h ^= h >> 33
    h = (h * _C2) & _M64
    return h ^ (h >> 33)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(_C1)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(_C2)
    return h ^ (h >> np.uint64(33))


def _powers(n: int) -> np.ndarray:
    global _POW
    if n > len(_POW):
        size = max(n, 2 * len(_POW))
        _POW = np.cumprod(np.concatenate([[1], np.full(size - 1, _P, dtype=np.uint64)]).astype(np.uint64),
                          dtype=np.uint64)
    return _POW


def word_hash(word: str) -> int:
    """64-bit hash of one word and its trailing space (reference for the vectorised one)."""
    h = 0
    power = 1
    for byte in word.encode("utf-8") + b" ":
        h = (h + (byte + 1) * power) & _M64
        power = (power * _P) & _M64
    return _fmix64_int(h)


def shingle_hash(shingle: str | bytes) -> int:
    """64-bit hash of one shingle: its words (space separated) hashed and combined by position."""
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8")
    words = shingle.split(" ")
    if len(words) > len(_POSITION_KEYS_INT):
        raise ValueError(f"shingles of more than {len(_POSITION_KEYS_INT)} words are not supported")
    acc = 0
    for key, word in zip(_POSITION_KEYS_INT, words):
        acc = (acc + word_hash(word) * key) & _M64
    return _fmix64_int(acc)


def shingle_hash32(shingle: str | bytes) -> int:
    """The 32-bit value MinHash sees (datasketch's affine32 scheme wants 32-bit inputs)."""
    return shingle_hash(shingle) & 0xFFFFFFFF


def shingle_strings(normalized: str, n: int = 5) -> list[str]:
    """The word n-grams of a normalised text, in order (with repeats); none if it has < n words."""
    words = normalized.split(" ") if normalized else []
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


def _word_hashes(joined: bytes) -> np.ndarray:
    """Hashes of the words of ``joined`` (words separated by exactly one space), in order.

    Each word is hashed together with the single space that follows it (one is appended after the
    last word), so every byte belongs to exactly one word and no masking is needed.
    """
    if not joined:
        return np.zeros(0, dtype=np.uint64)
    data = np.frombuffer(joined + b" ", dtype=np.uint8)
    spaces = np.flatnonzero(data == 32)
    starts = np.concatenate([[0], spaces[:-1] + 1])
    lengths = spaces - starts + 1
    pos_in_word = np.arange(data.size) - np.repeat(starts, lengths)
    contrib = (data.astype(np.uint64) + np.uint64(1)) * _powers(int(lengths.max()))[pos_in_word]
    return _fmix64(np.add.reduceat(contrib, starts))


def shingle_hashes(normalized: Sequence[str], n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of many normalised texts at once.

    Returns ``(hashes, counts)``: uint64 hashes of every shingle of every text, concatenated in
    order, and the number of shingles of each text (0 for texts with fewer than n words).
    """
    if n > len(_POSITION_KEYS_INT):
        raise ValueError(f"shingle_size > {len(_POSITION_KEYS_INT)} is not supported")
    n_words = np.array([t.count(" ") + 1 if t else 0 for t in normalized], dtype=np.int64)
    counts = np.maximum(n_words - n + 1, 0)
    if counts.sum() == 0:
        return np.zeros(0, dtype=np.uint64), counts
    words = _word_hashes(" ".join(t for t in normalized if t).encode("utf-8"))
    total = words.size
    acc = np.zeros(max(total - n + 1, 0), dtype=np.uint64)
    for j in range(n):
        acc += words[j:total - n + 1 + j] * np.uint64(_POSITION_KEYS_INT[j])
    mixed = _fmix64(acc)
    # Keep only windows that start and end inside the same text.
    doc_end = np.cumsum(n_words[n_words > 0])
    window = np.arange(mixed.size)
    owner_end = doc_end[np.searchsorted(doc_end, window, side="right")]
    return mixed[window + n <= owner_end], counts
