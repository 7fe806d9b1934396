"""`pmc-enrich train`: distil the LLM labels into students (fastText, transformer, cascade)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app
from pipeline.commands.common import ConfigOpt, MasterOpt, SetOpt, build_config


@app.command()
def train(
    run_dir: Path = typer.Argument(..., help="Run directory (reads labels/, writes model/ and reports/train.json)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Label file (JSONL/Parquet with text + "
                                          "document_type, domain, educational_score) instead of RUN_DIR/labels/.",
                                          exists=True),
    student: Optional[str] = typer.Option(None, "--student", help="fasttext | transformer | cascade | all "
                                          "(default: train.student, i.e. fasttext)."),
    unlabelled: Optional[Path] = typer.Option(None, "--unlabelled", help="Cascade: paragraphs to pseudo-label "
                                              "(JSONL/Parquet with text); default: a sample of RUN_DIR/paragraphs/.",
                                              exists=True),
    autotune: Optional[str] = typer.Option(None, "--autotune", help="fastText: off | grid | fasttext "
                                           "(tuned on a dev split carved from train)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Retrain even if model/ has these students "
                                   "trained on the same labels."),
    config: Optional[Path] = ConfigOpt,
    master: Optional[str] = MasterOpt,
    sets: Optional[list[str]] = SetOpt,
) -> None:
    """Train students on held-in labels, evaluate on a deterministic held-out split, save RUN_DIR/model/
    (+ model_card.json) and print each student's agreement beside the paper's student."""
    from jobs.train import print_table, run_train
    from pipeline.rundir import RunDir

    cfg = build_config(config, master, sets, **{"train.autotune": autotune, "train.student": student})
    needs_spark = (cfg.train.student in ("cascade", "all") and not unlabelled and not cfg.train.cascade.unlabelled)
    spark = None
    if needs_spark and (RunDir(run_dir).is_complete("paragraphs")):
        from pipeline.spark import get_spark
        spark = get_spark(cfg.spark)
    report = run_train(spark, RunDir(run_dir), cfg, labels=str(labels) if labels else None,
                       unlabelled=str(unlabelled) if unlabelled else None, overwrite=overwrite)
    if report.get("skipped"):
        typer.echo("model/ is up to date for these labels (use --overwrite to retrain)")
    typer.echo(print_table(report))
