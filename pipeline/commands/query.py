"""`pmc-enrich query`: run SQL against a run's DuckDB catalog and print a table."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import typer

from pipeline.commands import app


@app.command()
def query(
    run_dir: Path = typer.Argument(..., help="Run directory.", exists=True, file_okay=False),
    sql: str = typer.Argument(..., help="SQL over the catalog views, e.g. \"SELECT count(*) FROM paragraphs\"."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | csv | json"),
    max_rows: int = typer.Option(100, "--max-rows", help="Rows printed in table format (all for csv/json)."),
) -> None:
    """Run SQL on RUN_DIR/catalog.duckdb (rebuilt first when missing or older than a table) and
    print the result. See docs/catalog.md for the views and example queries."""
    import duckdb

    from pipeline.catalog import query as run_query
    from pipeline.catalog import render_table
    from pipeline.rundir import RunDir

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("use table, csv or json", param_hint="--format")
    try:
        columns, rows = run_query(RunDir(run_dir), sql)
    except duckdb.Error as exc:
        typer.echo(f"query failed: {exc}", err=True)
        raise typer.Exit(1) from None
    if fmt == "json":
        typer.echo(json.dumps([dict(zip(columns, r)) for r in rows], default=str, indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        typer.echo(render_table(columns, rows[:max_rows]))
        more = f", first {max_rows} shown" if len(rows) > max_rows else ""
        typer.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''}{more})")
