"""The paragraph label (rubric: ../shared/annotation/rubric.md) and the `labels/` table.

One definition serves everyone: the LLM stage validates every response with ``ParagraphLabel``,
constrains generation with ``LABEL_JSON_SCHEMA`` (or the equivalent ``LABEL_REGEX``), and the
distillation stage imports the value sets below (fixed order: class index = position).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

# Fixed order: the students use the position as the class index. Never reorder; only append.
DOCUMENT_TYPES: tuple[str, ...] = ("clinical_case", "study", "review", "other")
DOMAINS: tuple[str, ...] = ("clinical", "biomedical", "other")
SCORES: tuple[int, ...] = (1, 2, 3, 4, 5)
LABEL_FIELDS: tuple[str, ...] = ("document_type", "domain", "educational_score", "language")

DocumentType = Literal["clinical_case", "study", "review", "other"]
Domain = Literal["clinical", "biomedical", "other"]


class ParagraphLabel(BaseModel):
    """One label. Strict: no coercion ("3" is not 3, 3.0 is not 3), no extra keys."""

    model_config = ConfigDict(extra="forbid", strict=True, title="ParagraphLabel")

    document_type: DocumentType = Field(description="what kind of writing the paragraph itself is")
    domain: Domain = Field(description="the subject matter")
    educational_score: int = Field(ge=1, le=5, description="usefulness for college-level biomedical learning, 1-5")
    language: str = Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code of the paragraph's main language")


assert tuple(DocumentType.__args__) == DOCUMENT_TYPES and tuple(Domain.__args__) == DOMAINS


def _schema() -> dict[str, Any]:
    schema = ParagraphLabel.model_json_schema()
    # Key order matters for constrained decoders that emit properties in schema order.
    schema["required"] = list(LABEL_FIELDS)
    schema["additionalProperties"] = False
    return schema


LABEL_JSON_SCHEMA: dict[str, Any] = _schema()

# The same constraint as a regex over the compact serialisation (no whitespace, keys in
# LABEL_FIELDS order: json.dumps(..., separators=(",", ":"))). Random-weight models wander in whitespace under a JSON schema; this
# form cannot. Every string it accepts validates as a ParagraphLabel.
LABEL_REGEX: str = (
    r'\{"document_type":"(' + "|".join(DOCUMENT_TYPES) + r')",'
    r'"domain":"(' + "|".join(DOMAINS) + r')",'
    r'"educational_score":[1-5],'
    r'"language":"[a-z]{2}"\}'
)
_LABEL_RE = re.compile(LABEL_REGEX)


def compact_label(label: ParagraphLabel) -> str:
    """The serialisation LABEL_REGEX describes."""
    return json.dumps({k: getattr(label, k) for k in LABEL_FIELDS}, separators=(",", ":"))


def matches_regex(text: str) -> bool:
    return _LABEL_RE.fullmatch(text) is not None


# `labels/` table: one row per (sampled or imported) paragraph and labeller.
LABELS = pa.schema(
    [
        pa.field("paragraph_id", pa.string()),  # null for imported texts that match no run paragraph
        pa.field("text", pa.string(), nullable=False),  # kept: distillation trains from labels/ directly
        pa.field("text_hash", pa.string(), nullable=False),  # sha1 of the exact text sent
        pa.field("document_type", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("educational_score", pa.int8()),
        pa.field("language", pa.string()),
        pa.field("labeller", pa.string(), nullable=False),  # model id (or "import:<file>")
        pa.field("prompt_version", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # ok | invalid
        pa.field("invalid_reason", pa.string()),  # bad_json | invalid_value | missing_field | extra_field | refusal | ...
        pa.field("raw_response", pa.string()),  # only when invalid
        # The labeller's confidence, from the generated tokens' log-probabilities (null when the
        # backend returned none, for imports, and for invalid rows). Class orders: DOCUMENT_TYPES,
        # DOMAINS, SCORES (1..5); each list sums to 1.
        pa.field("document_type_probs", pa.list_(pa.float32())),
        pa.field("domain_probs", pa.list_(pa.float32())),
        pa.field("educational_score_probs", pa.list_(pa.float32())),
        pa.field("educational_score_expected", pa.float32()),  # probability-weighted score (a float in [1, 5])
        # Active learning: the sampling round and strategy that chose the paragraph (from sample/;
        # null when the input carries none, e.g. --input files and imports).
        pa.field("round", pa.int32()),
        pa.field("strategy", pa.string()),
        # The article the text came from as the input names it (a label file's `source`, e.g.
        # "PMC4101712.xml#0"); null when none is given. Grouped cross-validation falls back to it
        # for rows that match no run paragraph, so imported labels are still evaluated by article.
        pa.field("source", pa.string()),
    ]
)

PROB_COLUMNS: tuple[str, ...] = ("document_type_probs", "domain_probs", "educational_score_probs",
                                 "educational_score_expected")
