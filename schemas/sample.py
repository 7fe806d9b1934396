"""The `sample/` table: paragraphs chosen for LLM labelling, with the stratum of each row."""

from __future__ import annotations

import pyarrow as pa

SAMPLE = pa.schema(
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

# Columns the Spark job derives per row (mapInArrow output before filtering and selection).
DERIVED = pa.schema([f for f in SAMPLE] + [pa.field("order_key", pa.string(), nullable=False),
                                           pa.field("eligible", pa.bool_(), nullable=False)])
