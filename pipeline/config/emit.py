"""Emit / catalog / report settings (owned by the emit stage)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.config.base import knob

# The six bundled recipes (configs/recipes/<name>.yaml), emitted by `pmc-enrich run` by default.
DEFAULT_RECIPES = ["BE-Base", "BE-Educational", "BE-Clinical", "BE-ClinicalCase", "BE-French", "BE-All"]


class EmitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipes: list[str] = Field(default_factory=lambda: list(DEFAULT_RECIPES),
                               description="recipe names (configs/recipes/<name>.yaml) or YAML file paths")
    recipe_dirs: list[str] = Field(default_factory=list,
                                   description="extra folders searched for <name>.yaml before the bundled recipes")
    seed: int = Field(0, description="seed of the deterministic global shuffle of rows")
    shard_bytes: int = Field(256 * 1024 * 1024, ge=1024,
                             description="target size of one Parquet shard on disk (a shard closes once it reaches it)")
    row_group_bytes: int = Field(32 * 1024 * 1024, ge=1024,
                                 description="uncompressed text bytes per Parquet row group (upper bound)")
    tokenizer: str = Field("auto", description="the trainer's tokenizer: a local Hugging Face tokenizer.json or a "
                                               "folder holding one; or auto | minilm | regex (offline stand-ins)")
    require_dedup: bool = Field(True, description="refuse to emit when the dedup sidecar is missing")
    drop_flagged_articles: bool = Field(True, description="drop articles listed in dedup_articles/ (reprints)")
    drop_contaminated: bool = Field(True, description="drop paragraphs flagged in contamination/ (benchmark "
                                                      "overlap) when that table is complete; a recipe's "
                                                      "`contamination: keep|drop` overrides")
    validation_fraction: float = Field(0.0, ge=0.0, lt=1.0,
                                       description="share of articles (by a hash of article_id) written as a "
                                                   "validation split; 0 = none. A recipe may override")
    format_partitions: int | None = knob(None, ge=1, description="parallel tasks converting Parquet shards to the "
                                                                 "other formats (default: one per shard)")
