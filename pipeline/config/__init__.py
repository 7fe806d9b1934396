"""Typed configuration shared by every stage: one YAML file plus CLI overrides.

Each stage owns one section module; this package only composes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from pipeline.config.dedup import DedupConfig
from pipeline.config.emit import EmitConfig
from pipeline.config.ingest import IngestConfig
from pipeline.config.label import LabelConfig
from pipeline.config.sample import SampleConfig
from pipeline.config.spark import SparkConfig
from pipeline.config.train import AnnotateConfig, TrainConfig

__all__ = [
    "PipelineConfig",
    "SparkConfig",
    "IngestConfig",
    "DedupConfig",
    "SampleConfig",
    "LabelConfig",
    "TrainConfig",
    "AnnotateConfig",
    "EmitConfig",
    "load_config",
    "apply_overrides",
]


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(default_factory=list)
    out: str | None = None
    spark: SparkConfig = Field(default_factory=SparkConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    sample: SampleConfig = Field(default_factory=SampleConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    annotate: AnnotateConfig = Field(default_factory=AnnotateConfig)
    emit: EmitConfig = Field(default_factory=EmitConfig)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"config override {dotted!r}: {key!r} is not a section")
    node[leaf] = value


def apply_overrides(cfg: PipelineConfig, overrides: dict[str, Any]) -> PipelineConfig:
    """Return a new config with dotted-key overrides (``{"spark.master": "local[2]"}``) applied.

    ``None`` values are skipped so CLI options left unset never clobber the file.
    """
    data = cfg.model_dump()
    for key, value in overrides.items():
        if value is not None:
            _set_dotted(data, key, value)
    return PipelineConfig.model_validate(data)


def parse_set_options(pairs: list[str] | None) -> dict[str, Any]:
    """Parse repeated ``--set section.key=value`` options; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--set expects section.key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw)
    return out


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Load a YAML config file (or defaults) and apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the config must be a YAML mapping")
    cfg = PipelineConfig.model_validate(data)
    return apply_overrides(cfg, overrides or {})
