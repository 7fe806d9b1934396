"""Normalised word n-grams and their hashes, shared by benchmarks and paragraphs.

Normalisation is datatrove's ``simplify_text`` (through ``pipeline.dedup.normalize``: lowercase,
punctuation → space, diacritics stripped, whitespace collapsed; numbers kept), words are the
whitespace tokens of the normalised text, and an n-gram's hash is datatrove's 64-bit xxhash of its
words joined by one space (UTF-8), the hash datatrove's ``NGramsDecontIndexer``/``NGramsDecontFilter``
use with ``HashConfig(precision=64, hash_fc="xxhash")``. We call ``xxhash`` directly on the encoded
n-gram: datatrove 0.10 passes ``str`` to it, which xxhash ≥ 4 refuses. Hashes are returned as signed
64-bit integers so that Spark (LongType) and Python see the same values.

A text with fewer than ``n`` words has no n-gram, so it can neither contaminate nor be flagged.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

import regex
from datatrove.utils.text import simplify_text
from xxhash import xxh64_intdigest

from pipeline.dedup.normalize import norm_config

# datatrove's diacritics step filters the NFD string one character at a time in Python; the same
# filter as one regex substitution is several times faster and gives the same string.
_NO_DIACRITICS = dataclasses.replace(norm_config(), norm_unicode_diacritics=False)
_MARKS = regex.compile(r"\p{Mn}+")
_SPACE = re.compile(b" ")
_SIGN = 1 << 63
_WRAP = 1 << 64


def normalize(text: str | None) -> str:
    """Exactly ``pipeline.dedup.normalize.normalize(text)`` (datatrove's ``simplify_text``), faster."""
    if not text:
        return ""
    text = simplify_text(text, _NO_DIACRITICS)
    if not text.isascii():
        text = _MARKS.sub("", unicodedata.normalize("NFD", text)).strip()
    return text


def words(text: str | None) -> list[str]:
    return normalize(text).split()


def _signed(h: int) -> int:
    return h - _WRAP if h >= _SIGN else h


def ngram_hashes(text: str | None, n: int) -> list[int]:
    """Hash of every word n-gram of ``text``, one per position, in order.

    The normalised text has single spaces between words, so the n-gram starting at word ``i`` is
    the byte slice from word ``i``'s start to word ``i + n - 1``'s end: hashed in place, with no
    per-n-gram string built (the same bytes as ``" ".join(words[i:i + n]).encode()``)."""
    data = normalize(text).encode("utf-8")
    if not data:
        return []
    spaces = [m.start() for m in _SPACE.finditer(data)]
    n_words = len(spaces) + 1
    if n_words < n:
        return []
    starts = [0] + [p + 1 for p in spaces]
    ends = spaces + [len(data)]
    view = memoryview(data)
    return [_signed(xxh64_intdigest(view[starts[i] : ends[i + n - 1]])) for i in range(n_words - n + 1)]
