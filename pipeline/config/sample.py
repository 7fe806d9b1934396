"""Sampling stage settings (owned by the label stage)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

HEAD_NAMES = ("document_type", "domain", "educational_score")


class SampleConfig(BaseModel):
    size: int | None = None  # absolute sample size; exclusive with fraction
    fraction: float | None = Field(default=None, gt=0, le=1)  # share of the eligible population
    seed: int = 0  # mixed into the per-paragraph hash that orders each stratum
    # stratified: strata by article type, zone, length (the first round). uncertainty: where the
    # student in RUN_DIR/model is least sure. diverse: k-center spread over the student's features.
    strategy: Literal["stratified", "uncertainty", "diverse"] = "stratified"
    # uncertainty: this share of the draw is uniform random (keeps calibration honest).
    random_share: float = Field(default=0.1, ge=0, le=1)
    # uncertainty: how the per-head uncertainties combine (entropy normalised to [0, 1], or 1 - margin).
    uncertainty: Literal["entropy", "margin"] = "entropy"
    # uncertainty / diverse: weight of each head's uncertainty in the combined score (0 leaves a head out)
    head_weights: dict[str, float] = Field(default_factory=lambda: {h: 1.0 for h in HEAD_NAMES})
    # uncertainty / diverse: candidates scored by the student at most (a hash-ordered subset of the pool).
    pool_limit: int = Field(default=200_000, ge=1)
    # diverse: k-center over the candidates × size most uncertain rows (0: over the whole pool)
    candidates: int = Field(default=4, ge=0)
    # student folder for uncertainty / diverse; default RUN_DIR/model
    model: str | None = None
    # Paragraphs shorter than this many tokens are not eligible. The paper dropped < 64 tokens.
    # Tokens are estimated as words × tokens_per_word (no tokenizer needed at sampling time).
    min_tokens: int = 64
    tokens_per_word: float = 1.3
    # Every non-empty stratum gets at least min(floor, population) rows (rare strata: case reports,
    # non-English, minor article types); the rest is shared in proportion to population.
    floor: int = 5
    # Upper bounds (in estimated tokens) of the length buckets; the last bucket is open-ended.
    length_buckets: list[int] = Field(default_factory=lambda: [128, 256, 512])
    # Article types kept as their own stratum; any other type is grouped as "other".
    article_types: list[str] = Field(default_factory=lambda: [
        "research-article", "review-article", "case-report", "brief-report", "editorial", "letter",
        "systematic-review", "meta-analysis", "discussion", "abstract", "other"])

    @field_validator("head_weights")
    @classmethod
    def _known_heads(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(HEAD_NAMES))
        if unknown:
            raise ValueError(f"unknown heads {unknown}; expected some of {list(HEAD_NAMES)}")
        if any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("head weights must be >= 0 with at least one > 0")
        return value
