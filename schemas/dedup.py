"""Tables written by the dedup stage: the ``dedup/`` sidecar, ``dedup_articles/`` and the
intermediate signature table (``dedup_work/signatures``, removed after a successful run)."""

from __future__ import annotations

import pyarrow as pa

# One row per paragraph of paragraphs/ (same paragraph_id set).
DEDUP = pa.schema(
    [
        pa.field("paragraph_id", pa.string(), nullable=False),
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("exact_hash", pa.string(), nullable=False),  # blake2b-128 hex of the normalised text
        pa.field("n_shingles", pa.int32(), nullable=False),  # distinct word 5-grams
        pa.field("near_eligible", pa.bool_(), nullable=False),  # n_shingles ≥ min_shingles
        pa.field("cluster_id", pa.string(), nullable=False),  # min paragraph_id of the cluster (stable)
        pa.field("cluster_size", pa.int32(), nullable=False),  # paragraphs in the cluster (1 = unique)
        pa.field("is_duplicate", pa.bool_(), nullable=False),  # True = drop (a copy of kept_paragraph_id)
        pa.field("kept_paragraph_id", pa.string(), nullable=False),  # the cluster's kept paragraph
        pa.field("match", pa.string(), nullable=False),  # unique | kept | exact | near
        pa.field("dedup_version", pa.string(), nullable=False),  # DEDUP_VERSION + params hash
    ]
)

# One row per flagged article: most of its paragraphs are (near-)duplicates of one other article.
DEDUP_ARTICLES = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("other_article_id", pa.string(), nullable=False),
        pa.field("n_paragraphs", pa.int32(), nullable=False),  # paragraphs of article_id
        pa.field("n_shared", pa.int32(), nullable=False),  # of them dropped as copies of paragraphs of other_article_id
        pa.field("share", pa.float64(), nullable=False),  # n_shared / n_paragraphs
        pa.field("kept_share", pa.float64(), nullable=False),  # share of article_id's paragraphs it keeps
        pa.field("dedup_version", pa.string(), nullable=False),
    ]
)

# Per-paragraph signature output of the pure-Python UDF (pipeline.dedup.batch).
SIGNATURES = pa.schema(
    [
        pa.field("paragraph_id", pa.string(), nullable=False),
        pa.field("exact_hash", pa.string(), nullable=False),
        pa.field("n_shingles", pa.int32(), nullable=False),
        pa.field("shingles", pa.list_(pa.int64())),  # sorted distinct shingle hashes; null if < min_shingles
        pa.field("bands", pa.list_(pa.int64())),  # one LSH bucket key per band; null if < min_shingles
    ]
)
