"""Near-duplicate detection, pure Python (no Spark): normalisation, shingles, MinHash signatures
bit-compatible with datasketch, LSH banding, exact Jaccard, and the keep rule.

``jobs/dedup.py`` wires these into Spark; everything here works on plain strings, numpy arrays and
Arrow batches so it can be tested and benchmarked without a cluster.
"""

from pipeline.dedup.jaccard import jaccard, jaccard_sorted
from pipeline.dedup.keep import KEEP_RULE_DOC, keep_sort_key
from pipeline.dedup.lsh import candidate_probability, s_curve_table
from pipeline.dedup.minhash import MinHasher
from pipeline.dedup.normalize import exact_hash, normalize
from pipeline.dedup.shingles import shingle_hash, shingle_hashes, shingle_strings

__all__ = [
    "normalize", "exact_hash", "shingle_strings", "shingle_hash", "shingle_hashes", "MinHasher",
    "candidate_probability", "s_curve_table", "jaccard", "jaccard_sorted", "keep_sort_key",
    "KEEP_RULE_DOC",
]
