"""`pmc-enrich catalog`: a DuckDB database of views over every table of a run."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipeline.commands import app


@app.command()
def catalog(run_dir: Path = typer.Argument(..., help="Run directory.", exists=True, file_okay=False)) -> None:
    """Write RUN_DIR/catalog.duckdb: views articles, paragraphs, quarantine, superseded, dedup,
    dedup_articles, sample, labels, annotations (those complete), paragraph_facts (paragraphs joined
    with their article, dedup flag and annotation), variants / variant_shards (from the manifests) and
    variant_rows (every shard). Open it with `duckdb RUN_DIR/catalog.duckdb` or `pmc-enrich query`."""
    from pipeline.catalog import build_catalog
    from pipeline.rundir import RunDir

    typer.echo(json.dumps(build_catalog(RunDir(run_dir)), indent=2))
