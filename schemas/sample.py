"""The `sample/` table: paragraphs chosen for LLM labelling, with the stratum of each row and the
active-learning round and strategy that chose it."""

from __future__ import annotations

import pyarrow as pa

# Columns every sampled row has, whichever strategy chose it.
BASE = pa.schema(
    [
        pa.field("paragraph_id", pa.string(), nullable=False),
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_words", pa.int32(), nullable=False),
        pa.field("n_tokens", pa.int32(), nullable=False),  # estimate: ceil(words × tokens_per_word)
        pa.field("article_type", pa.string(), nullable=False),  # grouped: known type, "other" or "unknown"
        pa.field("section_family", pa.string(), nullable=False),  # abstract | introduction | methods | results | ...
        pa.field("language", pa.string(), nullable=False),  # paragraph language, else article language, else "und"
        pa.field("licence_group", pa.string(), nullable=False),  # commercial | noncommercial | other
        pa.field("length_bucket", pa.string(), nullable=False),  # e.g. "128-255" (estimated tokens)
        pa.field("stratum", pa.string(), nullable=False),  # the five columns above joined by "|"
    ]
)

SAMPLE = pa.schema(
    [f for f in BASE]
    + [
        # 0 for the first (stratified) sample; each active-learning round adds one. Rows chosen in
        # earlier rounds are carried over with their round, so labels/ keeps every round.
        pa.field("round", pa.int32(), nullable=False),
        # stratified | uncertainty | diverse | random (the random share of an active round)
        pa.field("strategy", pa.string(), nullable=False),
    ]
)

# Columns the Spark job derives per row (mapInArrow output before filtering and selection).
DERIVED = pa.schema([f for f in BASE] + [pa.field("order_key", pa.string(), nullable=False),
                                         pa.field("eligible", pa.bool_(), nullable=False),
                                         # kept for the student's context (section, zone) in active rounds
                                         pa.field("zone", pa.string()),
                                         pa.field("section_path", pa.list_(pa.string()))])
