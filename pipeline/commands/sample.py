"""`pmc-enrich sample`: stratified sample of non-duplicate paragraphs for LLM labelling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app
from pipeline.commands.common import ConfigOpt, MasterOpt, SetOpt, build_config


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., help="Run directory holding paragraphs/ and articles/ (and dedup/ if run)."),
    size: Optional[int] = typer.Option(None, "--size", "-n", help="Number of paragraphs to sample."),
    fraction: Optional[float] = typer.Option(None, "--fraction", "-f", help="Share of eligible paragraphs (0-1]."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed mixed into the per-paragraph order hash."),
    min_tokens: Optional[int] = typer.Option(None, "--min-tokens", help="Drop paragraphs under this many estimated tokens (words×1.3; default 64, as the paper)."),
    floor: Optional[int] = typer.Option(None, "--floor", help="Minimum rows per non-empty stratum (default 5)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo even if sample/ is complete."),
    config: Optional[Path] = ConfigOpt,
    master: Optional[str] = MasterOpt,
    sets: Optional[list[str]] = SetOpt,
) -> None:
    """Stratified sample (article type × section family × language × licence group × length bucket),
    proportional with a floor for rare strata, deterministic for a given seed. Writes RUN_DIR/sample/
    and reports/sample.json."""
    from jobs.sample import run_sample
    from pipeline.rundir import RunDir
    from pipeline.spark import get_spark

    if size is not None and fraction is not None:
        raise typer.BadParameter("give --size or --fraction, not both")
    cfg = build_config(config, master, sets, **{"sample.seed": seed, "sample.min_tokens": min_tokens,
                                                "sample.floor": floor})
    spark = get_spark(cfg.spark)
    report = run_sample(spark, RunDir(run_dir), cfg, size=size, fraction=fraction, overwrite=overwrite)
    summary = {k: report[k] for k in ("paragraphs", "duplicates_excluded", "too_short", "eligible", "sampled", "n_strata")}
    typer.echo(json.dumps(summary, indent=2))
