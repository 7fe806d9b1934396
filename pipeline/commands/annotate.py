"""`pmc-enrich annotate`: score every paragraph of a run with a trained student (Spark)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app
from pipeline.commands.common import ConfigOpt, MasterOpt, SetOpt, build_config


@app.command()
def annotate(
    run_dir: Path = typer.Argument(..., help="Run directory with paragraphs/ (writes annotations/)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Model folder (default: RUN_DIR/model).",
                                         exists=True, file_okay=False),
    student: Optional[str] = typer.Option(None, "--student", help="fasttext | transformer | cascade "
                                          "(default: the model card's default_student)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo even if annotations/ is complete for this model."),
    config: Optional[Path] = ConfigOpt,
    master: Optional[str] = MasterOpt,
    sets: Optional[list[str]] = SetOpt,
) -> None:
    """Write the annotations/ sidecar: paragraph_id, document_type, document_type_scores, domain,
    domain_scores, educational_score, classifier_version (one row per paragraph). The model is shipped
    with the job and loaded once per executor worker; scoring runs over Arrow batches."""
    from jobs.annotate import run_annotate
    from pipeline.rundir import RunDir
    from pipeline.spark import get_spark

    cfg = build_config(config, master, sets)
    report = run_annotate(get_spark(cfg.spark), RunDir(run_dir), cfg, model=str(model) if model else None,
                          student=student, overwrite=overwrite)
    typer.echo(json.dumps(report, indent=2, default=str))
