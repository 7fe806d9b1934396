"""The ``contamination/`` sidecar written by the decontaminate stage (+ its join-plan intermediates).

One row per (paragraph, benchmark item) that share at least ``decontaminate.min_ngrams`` normalised
word n-grams (and at least ``decontaminate.min_overlap`` of the paragraph's n-grams): every row is
a flag, and a paragraph is contaminated when it has any row. No row: no overlap found.
The n-gram size and benchmark files are recorded in the table's ``_COMPLETE`` marker.
"""

from __future__ import annotations

import pyarrow as pa

CONTAMINATION = pa.schema(
    [
        pa.field("paragraph_id", pa.string(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),  # benchmark file name without extensions
        pa.field("item_id", pa.string(), nullable=False),  # the item's id in that file (or its line/row)
        pa.field("matched_ngrams", pa.int32(), nullable=False),  # paragraph n-gram positions the item holds
        pa.field("overlap", pa.float64(), nullable=False),  # matched_ngrams / the paragraph's n-gram positions
    ]
)

# Join plan (a benchmark index too large to broadcast): the paragraph n-grams and the index as tables.
PARAGRAPH_NGRAMS = pa.schema(
    [
        pa.field("paragraph_id", pa.string(), nullable=False),
        pa.field("hash", pa.int64(), nullable=False),
        pa.field("n_ngrams", pa.int32(), nullable=False),  # the paragraph's n-gram positions
    ]
)

INDEX = pa.schema(
    [
        pa.field("hash", pa.int64(), nullable=False),
        pa.field("item", pa.int32(), nullable=False),  # position in the item list
    ]
)

ITEMS = pa.schema(
    [
        pa.field("item", pa.int32(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
    ]
)
