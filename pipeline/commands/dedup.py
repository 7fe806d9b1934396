"""`pmc-enrich dedup RUN_DIR`: exact + MinHash-LSH near-duplicate detection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app
from pipeline.commands.common import ConfigOpt, MasterOpt, SetOpt, build_config


@app.command()
def dedup(
    run_dir: Path = typer.Argument(..., help="Run directory holding paragraphs/ (and articles/) from ingest."),
    config: Optional[Path] = ConfigOpt,
    master: Optional[str] = MasterOpt,
    sets: Optional[list[str]] = SetOpt,
    overwrite: bool = typer.Option(False, "--overwrite", help="Recompute even if dedup/ is already complete."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Jaccard threshold (dedup.threshold, default 0.8)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Accept LSH candidates without exact Jaccard verification."),
) -> None:
    """Find exact and near-duplicate paragraphs; write the dedup/ sidecar (keyed by paragraph_id),
    dedup_articles/ (reprints / versions) and reports/dedup.json. paragraphs/ is never rewritten.

    Exact duplicates are grouped by a hash of the normalised text; near duplicates by MinHash LSH
    over word 5-gram shingles (bands × rows, see docs/dedup.md), verified by exact Jaccard, joined
    by connected components. Every cluster keeps one paragraph: commercial licence first, then the
    earliest article, then the lowest article_id and ordinal.
    """
    from jobs.dedup import run_dedup
    from pipeline.rundir import RunDir
    from pipeline.spark import get_spark

    overrides = {"dedup.threshold": threshold}
    if no_verify:
        overrides["dedup.verify"] = False
    cfg = build_config(config, master, sets, **overrides)
    spark = get_spark(cfg.spark)
    report = run_dedup(spark, RunDir(run_dir), cfg, overwrite=overwrite)
    keys = ("paragraphs", "exact_duplicates", "near_duplicates", "clusters", "largest_cluster", "articles_flagged")
    typer.echo(json.dumps({k: report.get(k) for k in keys}, indent=2))
