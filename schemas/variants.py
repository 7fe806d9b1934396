"""Rows of the pretraining shards written by emit: ``variants/<recipe>/<split>/part-*.parquet``.

``BUILT_ROWS`` is what the pure recipe code produces per article/paragraph (one row before
repetition); ``SHARD_ROWS`` is what lands in the shards (one row per copy, shuffled).
"""

from __future__ import annotations

import pyarrow as pa

_COMMON = [
    pa.field("text", pa.string(), nullable=False),
    pa.field("article_id", pa.string(), nullable=False),
    pa.field("paragraph_id", pa.string()),  # paragraph-per-row mode only
    pa.field("license", pa.string()),
    pa.field("commercial", pa.bool_(), nullable=False),
    pa.field("language", pa.string()),  # the paragraph's (paragraph rows, when confident) or the article's main one
    pa.field("languages", pa.list_(pa.string())),  # every language of the article (ingest), sorted
    pa.field("journal", pa.string()),
    pa.field("year", pa.int32()),
    pa.field("document_types", pa.list_(pa.string())),  # types present, most frequent first
    pa.field("domains", pa.list_(pa.string())),
    pa.field("educational_score", pa.float32()),  # mean over the row's paragraphs (null: none annotated)
    pa.field("n_paragraphs", pa.int32(), nullable=False),
    pa.field("n_tokens", pa.int32(), nullable=False),  # with the tokenizer named in manifest.json
    pa.field("upsample_factor", pa.int16(), nullable=False),  # copies written, or the sampling weight (weights mode)
    pa.field("upsample_rules", pa.list_(pa.string())),  # names of the recipe rules that matched
]

BUILT_ROWS = pa.schema(
    [pa.field("unit_id", pa.string(), nullable=False), pa.field("split", pa.string(), nullable=False),
     pa.field("part", pa.string(), nullable=False)]  # train | validation (pipeline.emit.layout)
    + _COMMON
)

SHARD_ROWS = pa.schema(
    [pa.field("id", pa.string(), nullable=False)]  # f"{article_id or paragraph_id}#{copy_index}", unique
    + _COMMON
    + [pa.field("copy_index", pa.int16(), nullable=False)]  # 0 .. upsample_factor-1
)

SPLITS = ("commercial", "noncommercial")
