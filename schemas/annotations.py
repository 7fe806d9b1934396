"""The `annotations/` sidecar: one row per paragraph, the student's predictions.

Score vectors follow the fixed class orders of ``schemas.labels`` (DOCUMENT_TYPES, DOMAINS):
``document_type_scores[i]`` is the probability of ``DOCUMENT_TYPES[i]``. ``educational_score`` is
a float in [1, 5] (expected value of the 5-class head, or the regression head's output).
"""

from __future__ import annotations

import pyarrow as pa

from schemas.labels import DOCUMENT_TYPES, DOMAINS

DOCUMENT_TYPE_SCORES_ORDER: tuple[str, ...] = tuple(DOCUMENT_TYPES)
DOMAIN_SCORES_ORDER: tuple[str, ...] = tuple(DOMAINS)

ANNOTATIONS = pa.schema(
    [
        pa.field("paragraph_id", pa.string(), nullable=False),
        pa.field("document_type", pa.string(), nullable=False),
        pa.field("document_type_scores", pa.list_(pa.float32()), nullable=False),  # DOCUMENT_TYPES order
        pa.field("domain", pa.string(), nullable=False),
        pa.field("domain_scores", pa.list_(pa.float32()), nullable=False),  # DOMAINS order
        pa.field("educational_score", pa.float32(), nullable=False),
        pa.field("classifier_version", pa.string(), nullable=False),  # e.g. "fasttext-<sha1[:12]>"
    ]
)

# `predict` output: the same fields, keyed by the input's optional `id` instead of paragraph_id.
PREDICTIONS = pa.schema([pa.field("id", pa.string())] + [f for f in ANNOTATIONS if f.name != "paragraph_id"])
