"""Options and helpers shared by the stage commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from pipeline.config import PipelineConfig, load_config, parse_set_options

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (see configs/).", exists=True, dir_okay=False)
MasterOpt = typer.Option(None, "--master", help="Spark master URL (default: spark-submit's, else local[*]).")
SetOpt = typer.Option(None, "--set", help="Override any config key: --set dedup.threshold=0.85 (repeatable).")


def build_config(config: Optional[Path], master: Optional[str] = None, sets: Optional[list[str]] = None,
                 **overrides: Any) -> PipelineConfig:
    """Config file < --set pairs < explicit CLI options."""
    merged: dict[str, Any] = parse_set_options(sets)
    if master:
        merged["spark.master"] = master
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return load_config(config, merged)
