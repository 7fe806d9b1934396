"""Dedup stage settings (owned by the dedup stage).

Defaults target a ~0.8 Jaccard threshold over word 5-gram shingles: 128 permutations split into
16 bands × 8 rows put the LSH S-curve's midpoint at (1/16)^(1/8) ≈ 0.71, so a pair at J = 0.8
becomes a candidate with probability 1 − (1 − 0.8^8)^16 ≈ 0.95 and at J = 0.85 with ≈ 0.99;
candidates are then verified by exact Jaccard, which removes the false positives the low midpoint
lets in. See docs/dedup.md for the full table.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pipeline.config.base import knob
from pydantic import BaseModel, Field, model_validator

DEDUP_VERSION = "dedup-1"


class DedupConfig(BaseModel):
    enabled: bool = True
    # --- normalisation (datatrove.utils.text.simplify_text) ---
    lowercase: bool = True
    remove_punctuation: bool = True
    # Numbers are kept by default: two paragraphs that differ only in their results ("45 years" vs
    # "62 years") are different content in biomedical text, not duplicates.
    normalize_numbers: bool = False
    # --- shingles and MinHash ---
    shingle_size: int = Field(5, ge=1, description="words per shingle (word n-grams)")
    num_perm: int = Field(128, ge=2, description="MinHash permutations (datasketch affine32 scheme)")
    bands: int = Field(16, ge=1, description="LSH bands (b)")
    rows: int = Field(8, ge=1, description="rows per band (r); bands × rows must equal num_perm")
    seed: int = Field(1, description="datasketch MinHash seed (permutation parameters)")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="Jaccard threshold for a near duplicate")
    verify: bool = Field(True, description="check every LSH candidate pair by exact Jaccard of shingle sets")
    # --- guards against giant clusters ---
    min_shingles: int = Field(
        10, ge=1, description="paragraphs with fewer distinct shingles take part in exact dedup only")
    max_bucket_size: int = Field(
        100, ge=2, description="LSH buckets larger than this are paired against anchors only (reported)")
    bucket_anchors: int = Field(
        3, ge=1, description="members of an oversized bucket are compared with its first N members")
    center_split: bool = Field(
        True, description="split chained components: a near duplicate must be ≥ threshold to the kept paragraph")
    max_split_rounds: int = Field(5, ge=1, description="centre-split rounds; what is left stays unmerged")
    # --- keep rule ---
    keep_rule: Literal["commercial,earliest,article_id,ordinal"] = "commercial,earliest,article_id,ordinal"
    # --- article level ---
    article_share: float = Field(
        0.5, gt=0.0, le=1.0, description="flag an article when more than this share of its paragraphs "
                                          "are (near-)duplicates of paragraphs of ONE other article")
    article_min_paragraphs: int = Field(3, ge=1, description="smaller articles are never flagged")
    article_max_cluster_articles: int = Field(
        50, ge=2, description="clusters spanning more articles are boilerplate, not reprint evidence")
    # --- execution ---
    batch_size: int = knob(512, ge=1, description="paragraphs per Arrow batch in the signature UDF")
    max_cc_iterations: int = knob(60, ge=1, description="connected-components safety bound")
    keep_work: bool = knob(False, description="keep dedup_work/ (signatures) after a successful run")
    top_texts: int = knob(20, ge=0, description="most repeated texts listed in the report")

    @model_validator(mode="after")
    def _check_banding(self) -> "DedupConfig":
        if self.bands * self.rows != self.num_perm:
            raise ValueError(f"dedup: bands × rows ({self.bands} × {self.rows}) must equal num_perm ({self.num_perm})")
        return self

    def params(self) -> dict:
        """The settings that change the output (everything but execution knobs)."""
        skip = {"enabled", "batch_size", "keep_work", "top_texts", "max_cc_iterations"}
        return {k: v for k, v in self.model_dump().items() if k not in skip}

    def signature_params(self) -> dict:
        """The settings the per-paragraph signature table depends on."""
        keys = ("lowercase", "remove_punctuation", "normalize_numbers", "shingle_size", "num_perm",
                "bands", "rows", "seed")
        return {k: getattr(self, k) for k in keys}

    def params_hash(self) -> str:
        blob = json.dumps({"version": DEDUP_VERSION, **self.params()}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]
