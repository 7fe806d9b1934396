"""Per-batch signature computation: Arrow batch of (paragraph_id, text) → SIGNATURES rows.

This is the function the Spark job runs inside ``mapInArrow``; it is plain Python over pyarrow so
tests and the benchmark call it directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from pipeline.config.dedup import DedupConfig
from pipeline.dedup.minhash import MinHasher
from pipeline.dedup.normalize import exact_hash, normalize
from pipeline.dedup.shingles import shingle_hashes
from schemas.dedup import SIGNATURES


class SignatureBuilder:
    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.hasher = MinHasher(cfg.num_perm, cfg.seed, cfg.bands, cfg.rows)

    def normalize(self, text: str | None) -> str:
        c = self.cfg
        return normalize(text, c.lowercase, c.remove_punctuation, c.normalize_numbers)

    def build(self, paragraph_ids: list[str], texts: list[str | None]) -> pa.RecordBatch:
        cfg = self.cfg
        norms = [self.normalize(t) for t in texts]
        # A blank paragraph is a duplicate of nothing: it gets a hash of its own id.
        hashes = [exact_hash(n, t) if (n or (t or "").strip()) else exact_hash("", f"\0blank:{pid}")
                  for pid, n, t in zip(paragraph_ids, norms, texts)]
        flat, counts = shingle_hashes(norms, cfg.shingle_size)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        # Distinct shingles per text: the set the Jaccard similarity is defined on.
        sets = [np.unique(flat[bounds[i]:bounds[i + 1]]) for i in range(len(norms))]
        n_distinct = np.array([s.size for s in sets], dtype=np.int64)
        eligible = n_distinct >= cfg.min_shingles
        # Signatures of eligible texts only (MinHash over distinct or repeated shingles is the same).
        elig_counts = np.where(eligible, counts, 0)
        elig_flat = flat[np.repeat(eligible, counts)] if flat.size else flat
        sigs = self.hasher.signatures(elig_flat, elig_counts)
        keys = self.hasher.band_keys(sigs)
        shingles_col: list = [None] * len(norms)
        bands_col: list = [None] * len(norms)
        for row, i in enumerate(np.flatnonzero(eligible)):
            shingles_col[i] = sets[i].view(np.int64)
            bands_col[i] = keys[row]
        return pa.RecordBatch.from_arrays(
            [
                pa.array(paragraph_ids, pa.string()),
                pa.array(hashes, pa.string()),
                pa.array(n_distinct, pa.int32()),
                _list_array(shingles_col),
                _list_array(bands_col),
            ],
            schema=SIGNATURES,
        )


def _list_array(rows: list) -> pa.Array:
    """list<int64> column from numpy arrays / None without a per-element Python loop."""
    lengths = np.array([0 if r is None else len(r) for r in rows], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    present = [r for r in rows if r is not None]
    values = np.concatenate(present) if present else np.zeros(0, dtype=np.int64)
    mask = pa.array([r is None for r in rows], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.int64()), mask=mask)


def signature_batches(batches: Iterator[pa.RecordBatch], cfg: DedupConfig) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: (paragraph_id, text) batches in, SIGNATURES batches out."""
    builder = SignatureBuilder(cfg)
    for batch in batches:
        size = cfg.batch_size
        for start in range(0, batch.num_rows, size):
            part = batch.slice(start, size)
            yield builder.build(part.column("paragraph_id").to_pylist(), part.column("text").to_pylist())
