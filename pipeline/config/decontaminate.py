"""Decontaminate stage settings (owned by the decontaminate stage)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pipeline.config.base import knob


class DecontaminateConfig(BaseModel):
    enabled: bool = Field(True, description="false: write an empty contamination/ (nothing flagged)")
    benchmarks: list[str] = Field(default_factory=list, description="benchmark files (PubMedQA/BioASQ JSON, "
                                  "MedQA/MedMCQA JSONL, MMLU CSV, any JSONL with text_fields)")
    format: Literal["auto", "pubmedqa", "bioasq", "medqa", "medmcqa", "mmlu", "jsonl"] = Field(
        "auto", description="format of every benchmark file; auto: by extension and shape")
    text_fields: list[str] = Field(default_factory=lambda: ["text"], description="generic JSONL: fields holding "
                                   "the text (strings, lists or objects of strings)")
    id_field: str = Field("id", description="generic JSONL: field holding the item id (else the line number)")
    # 13 as GPT-3 and the dolma/datatrove defaults for web-scale decontamination
    ngram: int = Field(13, ge=3, le=64, description="words per n-gram")
    min_ngrams: int = Field(1, ge=1, description="matched n-grams for a (paragraph, item) pair to be flagged")
    min_overlap: float = Field(0.0, ge=0.0, le=1.0, description="... and at least this share of the "
                               "paragraph's n-grams")
    broadcast_max_ngrams: int = knob(2_000_000, ge=0, description="benchmark n-grams up to which the index is "
                                     "broadcast to every task; above, paragraphs' n-grams are joined to it")
