"""Run one stage in a test the way the CLI and `run` do (``pipeline.stage.run_stage``), on the test
session's SparkSession."""

from __future__ import annotations

from typing import Any

from pipeline.config import PipelineConfig, apply_overrides
from pipeline.rundir import RunDir
from pipeline.stage import run_stage
from pipeline.stages import BY_NAME


def config_for(run: RunDir, base: PipelineConfig | None = None, **overrides: Any) -> PipelineConfig:
    """``base`` (default: defaults) pointed at ``run``, with dotted overrides (``{"dedup.threshold": 0.9}``)
    given as keyword arguments with ``__`` for dots (``dedup__threshold=0.9``)."""
    cfg = apply_overrides(base or PipelineConfig(), {"out": str(run.root)})
    return apply_overrides(cfg, {k.replace("__", "."): v for k, v in overrides.items()})


def run(name: str, spark, cfg: PipelineConfig, *, overwrite: bool = False, **extras: Any) -> dict:
    """The stage's report: ``{stage, fingerprint, inputs, elapsed_s, skipped, figures}``."""
    return run_stage(BY_NAME[name], cfg, overwrite=overwrite, progress=False, spark_factory=lambda: spark,
                     extras=extras)


def figures(name: str, spark, cfg: PipelineConfig, **kwargs: Any) -> dict:
    """Just the figures of :func:`run`."""
    return run(name, spark, cfg, **kwargs)["figures"]
