"""The paragraph side: which benchmark items a paragraph overlaps, and by how much."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator

import pyarrow as pa

from pipeline.decontam.index import NgramIndex
from pipeline.decontam.ngrams import ngram_hashes
from schemas.contamination import CONTAMINATION


def match_paragraph(text: str | None, index: NgramIndex, min_ngrams: int = 1,
                    min_overlap: float = 0.0) -> list[tuple[int, int, float]]:
    """``(item index, matched n-grams, overlap)`` for every item the paragraph overlaps enough.

    ``matched``: positions of the paragraph whose n-gram the item holds; ``overlap``: matched /
    all n-gram positions of the paragraph. Sorted by item index.
    """
    hashes = ngram_hashes(text, index.n)
    if not hashes:
        return []
    counts: Counter = Counter()
    postings = index.postings
    for h in hashes:
        posting = postings.get(h)
        if posting:
            counts.update(posting)
    total = len(hashes)
    return [(k, c, c / total) for k, c in sorted(counts.items())
            if c >= min_ngrams and c / total >= min_overlap]


def match_rows(paragraphs: Iterable[tuple[str, str]], index: NgramIndex, min_ngrams: int = 1,
               min_overlap: float = 0.0) -> Iterator[tuple[str, str, str, int, float]]:
    """Contamination rows (schemas.contamination) for ``(paragraph_id, text)`` pairs."""
    for pid, text in paragraphs:
        for k, matched, overlap in match_paragraph(text, index, min_ngrams, min_overlap):
            benchmark, item_id = index.items[k]
            yield pid, benchmark, item_id, matched, overlap


def match_batches(batches: Iterable[pa.RecordBatch], index: NgramIndex, min_ngrams: int = 1,
                  min_overlap: float = 0.0) -> Iterator[pa.RecordBatch]:
    """Arrow batches of (paragraph_id, text) → batches of contamination rows (for mapInArrow)."""
    for batch in batches:
        ids = batch.column("paragraph_id").to_pylist()
        texts = batch.column("text").to_pylist()
        rows = list(match_rows(zip(ids, texts), index, min_ngrams, min_overlap))
        if rows:
            yield pa.RecordBatch.from_arrays([pa.array(col, type=f.type) for col, f in zip(zip(*rows), CONTAMINATION)],
                                             schema=CONTAMINATION)


def ngram_batches(batches: Iterable[pa.RecordBatch], n: int) -> Iterator[pa.RecordBatch]:
    """(paragraph_id, text) → one row per n-gram position: (paragraph_id, hash, n_ngrams) (join plan)."""
    from schemas.contamination import PARAGRAPH_NGRAMS

    for batch in batches:
        pids, hashes, totals = [], [], []
        for pid, text in zip(batch.column("paragraph_id").to_pylist(), batch.column("text").to_pylist()):
            hs = ngram_hashes(text, n)
            pids.extend([pid] * len(hs))
            hashes.extend(hs)
            totals.extend([len(hs)] * len(hs))
        if pids:
            yield pa.RecordBatch.from_arrays([pa.array(pids, pa.string()), pa.array(hashes, pa.int64()),
                                              pa.array(totals, pa.int32())], schema=PARAGRAPH_NGRAMS)
