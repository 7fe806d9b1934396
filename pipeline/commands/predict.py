"""`pmc-enrich predict`: score any JSONL/Parquet file of paragraphs with a trained student."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app

log = logging.getLogger(__name__)


@app.command()
def predict(
    input: Path = typer.Argument(..., help="JSONL or Parquet with a `text` column (optional `id`, carried "
                                          "through; optional context: `section`/`section_path`, `zone`, `article_type`).",
                                 exists=True),
    model: Path = typer.Option(..., "--model", "-m", help="RUN_DIR/model (or one student folder inside it).",
                               exists=True, file_okay=False),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .jsonl or .parquet."),
    student: Optional[str] = typer.Option(None, "--student", help="fasttext | linear | transformer | distilled | "
                                          "cascade | static (default: the model card's pick for the device: its GPU "
                                          "annotator with --device cuda, else its CPU one)."),
    batch_size: int = typer.Option(8192, "--batch-size", help="Rows per scoring call."),
    device: Optional[str] = typer.Option(None, "--device", help="Transformer student: cpu, cuda (default: auto)."),
) -> None:
    """Score paragraphs from any file: writes id, document_type, document_type_scores (order:
    clinical_case, study, review, other), domain, domain_scores (order: clinical, biomedical, other),
    educational_score (float in [1, 5]) and classifier_version. For analysts, and for checking the
    student on outside data."""
    from classifiers.dataset import read_table
    from classifiers.io import score_table, write_predictions
    from classifiers.students import load_student, resolve_student_dir
    from schemas.annotations import PREDICTIONS

    from pipeline.errors import UserError

    if out.suffix not in (".jsonl", ".parquet"):
        raise UserError(f"--out {out}: expected a .jsonl or .parquet file name")
    try:
        student_dir = resolve_student_dir(model, student, device=device)
        table = read_table(input)
    except (FileNotFoundError, ValueError) as exc:  # a wrong --model or an unreadable input file
        raise UserError(str(exc), hint="--model takes RUN_DIR/model (or a student folder in it); the input a "
                        ".jsonl or .parquet file with a `text` column") from None
    if "text" not in table.column_names:
        raise UserError(f"{input}: no `text` column (columns: {', '.join(table.column_names)})")
    clf = load_student(student_dir, device=device)
    stats: dict = {}
    t0 = time.time()
    n = write_predictions(score_table(clf, table, PREDICTIONS, clf.version, batch_size=batch_size, stats=stats),
                          PREDICTIONS, out)
    seconds = time.time() - t0
    summary = {"input": str(input), "out": str(out), "student": str(student_dir), "classifier_version": clf.version,
               "rows_in": table.num_rows, "rows_out": n, "skipped_no_text": stats.get("skipped_no_text", 0),
               "seconds": round(seconds, 3), "paragraphs_per_s": round(n / seconds, 1) if seconds > 0 else None}
    typer.echo(json.dumps(summary, indent=2))
