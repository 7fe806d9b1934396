"""`pmc-enrich ingest`: PMC-OA packages and JATS files → articles / paragraphs / quarantine tables."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app
from pipeline.commands.common import ConfigOpt, MasterOpt, SetOpt, build_config


def summary_table(report: dict) -> str:
    """The end-of-run summary printed by the CLI (plain text, one figure per line)."""
    docs, arts = report["documents"], report["articles"]
    rows = [
        ("inputs", f"{report['inputs']['packages']} packages, {report['inputs']['loose_files']} loose files"),
        ("documents seen", docs["seen"]),
        ("  parsed", docs["parsed"]),
        ("  quarantined", docs["quarantined"]),
        ("  parsed + quarantined == seen", "yes" if docs["reconciled"] else "NO"),
        ("articles kept", arts["kept"]),
        ("  superseded (older copies)", arts["superseded"]),
        ("paragraphs", report["paragraphs"]),
    ]
    rows += [(f"licence group {k}", v) for k, v in report["licence_groups"].items()]
    rows += [(f"quarantined: {k}", v) for k, v in report["quarantined_by_reason"].items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


@app.command()
def ingest(
    inputs: list[str] = typer.Argument(
        ..., metavar="INPUT",
        help="PMC bulk packages (*.tar.gz / *.tgz, their sibling .filelist.csv is picked up), folders "
             "(searched recursively for packages and .xml/.nxml/.xml.gz files) or single files. "
             "Local paths or fsspec URLs (s3://, gs://, hdfs://, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write articles/, paragraphs/, "
                                                      "quarantine/, superseded/ and reports/ingest.json into."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Re-ingest even if RUN_DIR already holds a complete ingest."),
    config: Optional[Path] = ConfigOpt,
    master: Optional[str] = MasterOpt,
    sets: Optional[list[str]] = SetOpt,
) -> None:
    """Parse PMC Open Access JATS into article and paragraph tables.

    The filelist's License, PMID, LastUpdated and Retracted columns win over the XML. Documents that
    cannot be parsed go to quarantine/ with a reason; the same article seen twice keeps its latest
    copy (the others go to superseded/). Rerunning into a finished RUN_DIR skips the work; a run
    that was killed resumes from the inputs it had finished.

    Example: pmc-enrich ingest tests/data/pmc-oa-bulk tests/data/jats-other --out runs/demo
    """
    from jobs.ingest import IngestRefused, run_ingest
    from pipeline.rundir import RunDir
    from pipeline.sources import InputNotFound
    from pipeline.spark import get_spark

    cfg = build_config(config, master, sets, inputs=list(inputs), out=str(out),
                       **{"ingest.overwrite": overwrite or None})
    spark = get_spark(cfg.spark)
    try:
        report = run_ingest(spark, RunDir(out), cfg, overwrite=overwrite)
    except (IngestRefused, InputNotFound) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(summary_table(report))
    typer.echo(f"report: {RunDir(out).report('ingest')}")
