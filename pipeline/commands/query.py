"""`pmc-enrich query`: run SQL against a run's DuckDB catalog; print or save the result."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app
from pipeline.rundir import write_text_atomic

FORMATS = ("table", "csv", "json", "parquet")


@app.command()
def query(
    run_dir: Path = typer.Argument(..., help="Run directory.", exists=True, file_okay=False),
    sql: str = typer.Argument(..., help="SQL over the catalog views, e.g. \"SELECT count(*) FROM paragraphs\"."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | csv | json | parquet (parquet needs --out)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", dir_okay=False,
                                       help="Write the result to this file (atomically) instead of printing it."),
    max_rows: int = typer.Option(100, "--max-rows", help="Rows shown in table format (all rows for the others)."),
) -> None:
    """Run SQL on RUN_DIR/catalog.duckdb (rebuilt first when missing or older than a table) and
    print the result, or save it with --out. See docs/catalog.md for the views and example queries;
    `SELECT view_name, comment FROM duckdb_views() WHERE NOT internal` lists them."""
    from pipeline.catalog import query as run_query
    from pipeline.catalog import query_arrow, render_table
    from pipeline.errors import UserError
    from pipeline.rundir import RunDir, write_parquet_atomic

    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise UserError("--format parquet writes a file", hint="add --out FILE.parquet")
        table = query_arrow(RunDir(run_dir), sql)
        write_parquet_atomic(table, out)
        typer.echo(f"wrote {table.num_rows} rows to {out}", err=True)
        return
    columns, rows = run_query(RunDir(run_dir), sql)
    if fmt == "json":
        text = json.dumps([dict(zip(columns, r)) for r in rows], default=str, indent=2) + "\n"
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        text = buf.getvalue()
    else:
        shown = rows if out is not None else rows[:max_rows]
        more = f", first {max_rows} shown" if len(shown) < len(rows) else ""
        text = render_table(columns, shown) + f"\n({len(rows)} row{'s' if len(rows) != 1 else ''}{more})\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(out, text)
        typer.echo(f"wrote {len(rows)} rows to {out}", err=True)


