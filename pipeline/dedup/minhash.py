"""MinHash signatures for many documents at once, bit-compatible with datasketch.

datasketch's ``MinHash`` (scheme "affine32", the 2.0 default) pre-mixes each 32-bit input hash with
the MurmurHash3 32-bit finalizer and takes, per permutation k, ``min(a_k * h + b_k mod 2^32)``.
``MinHasher`` takes its permutation parameters from a datasketch ``MinHash(num_perm, seed)`` and
applies the same arithmetic to a whole batch of documents with numpy (one matrix product-like pass
and ``np.minimum.reduceat``), so a signature equals the ``hashvalues`` of a datasketch MinHash fed
the same shingles one ``update`` at a time with ``hashfunc=shingle_hash32`` — datasketch's Jaccard
estimates, LSH and LeanMinHash all apply to it.
"""

from __future__ import annotations

import numpy as np
from datasketch import LeanMinHash, MinHash

from pipeline.dedup.shingles import _fmix64, shingle_hash32

SCHEME = "affine32"
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
# Shingles per (permutations × shingles) block: 4096 × 128 × 4 B = 2 MiB stays in cache.
_CHUNK_ROWS = 4096


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (what datasketch applies to every input hash)."""
    s1, m1, s2, m2, s3 = _FMIX32
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


class MinHasher:
    """Signatures and LSH band keys for a fixed (num_perm, seed, bands × rows)."""

    def __init__(self, num_perm: int = 128, seed: int = 1, bands: int = 16, rows: int = 8):
        if bands * rows != num_perm:
            raise ValueError(f"bands × rows ({bands} × {rows}) must equal num_perm ({num_perm})")
        self.num_perm, self.seed, self.bands, self.rows = num_perm, seed, bands, rows
        self._template = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME, hashfunc=shingle_hash32)
        a, b = self._template.permutations
        self.a = np.asarray(a, dtype=np.uint32)
        self.b = np.asarray(b, dtype=np.uint32)
        # Odd 64-bit multipliers combining the r values of a band into one bucket key.
        rng = np.random.RandomState(seed + 7919)
        self._band_keys = (rng.randint(0, 1 << 62, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1))

    def signatures(self, hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """MinHash signatures (uint32, one row per document with ≥ 1 shingle).

        ``hashes``/``counts`` as returned by ``shingle_hashes``; documents with zero shingles get no
        row (callers keep the mask ``counts > 0``).
        """
        counts = np.asarray(counts, dtype=np.int64)
        nonzero = counts[counts > 0]
        out = np.empty((nonzero.size, self.num_perm), dtype=np.uint32)
        if nonzero.size == 0:
            return out
        hv = fmix32((hashes & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        ends = np.cumsum(nonzero)
        starts = ends - nonzero
        doc = 0
        while doc < nonzero.size:
            # Take whole documents until the chunk is full (always at least one).
            last = max(doc + 1, int(np.searchsorted(ends, starts[doc] + _CHUNK_ROWS, side="right")))
            lo, hi = starts[doc], ends[last - 1]
            # (permutations × shingles): each row is contiguous, so the segment-wise min along it
            # is cache friendly; uint32 wraparound is datasketch's "mod 2^32".
            phv = np.multiply.outer(self.a, hv[lo:hi])
            phv += self.b[:, None]
            out[doc:last] = np.minimum.reduceat(phv, starts[doc:last] - lo, axis=1).T
            doc = last
        return out

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """One 64-bit bucket key per (document, band), as int64 (Spark has no unsigned type)."""
        sig = signatures.reshape(signatures.shape[0], self.bands, self.rows).astype(np.uint64)
        acc = (sig * self._band_keys[None, None, :]).sum(axis=2, dtype=np.uint64)
        return _fmix64(acc).view(np.int64)

    # --- interop with datasketch ---
    def to_datasketch(self, signature: np.ndarray) -> LeanMinHash:
        """A datasketch LeanMinHash with these hash values (for its ``jaccard`` and LSH classes)."""
        m = MinHash(seed=self.seed, hashvalues=np.asarray(signature, dtype=np.uint32),
                    permutations=self._template.permutations, scheme=SCHEME, hashfunc=shingle_hash32)
        return LeanMinHash(m)

    def naive_datasketch(self, shingles: list[str]) -> MinHash:
        """The reference: datasketch's per-shingle ``update`` loop over the same shingles."""
        m = MinHash(num_perm=self.num_perm, seed=self.seed, scheme=SCHEME, hashfunc=shingle_hash32)
        for s in shingles:
            m.update(s.encode("utf-8"))
        return m
