"""`pmc-enrich report`: one self-contained HTML report of a run."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipeline.commands import app


@app.command()
def report(run_dir: Path = typer.Argument(..., help="Run directory.", exists=True, file_okay=False)) -> None:
    """Write RUN_DIR/reports/report.html (plots embedded, no external files): the funnel from inputs
    to each variant, LLM-label and student score distributions with the recipes' thresholds, student
    metrics, variant sizes in tokens. The figures are also saved as reports/report.json."""
    from pipeline.report import write_report
    from pipeline.rundir import RunDir

    result = write_report(RunDir(run_dir))
    typer.echo(json.dumps({"path": result["path"], "bytes": result["bytes"]}, indent=2))
