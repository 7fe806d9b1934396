"""Sampling stage settings (owned by the label stage)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SampleConfig(BaseModel):
    size: int | None = None  # absolute sample size; exclusive with fraction
    fraction: float | None = Field(default=None, gt=0, le=1)  # share of the eligible population
    seed: int = 0  # mixed into the per-paragraph hash that orders each stratum
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
