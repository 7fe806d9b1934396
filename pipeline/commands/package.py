"""`pmc-enrich package`: build the code Spark executors need (see docs/cluster.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipeline.commands import app


@app.command()
def package(
    out: Path = typer.Option(Path("dist"), "--out", "-o", help="Output folder for the artifacts."),
    wheel: bool = typer.Option(True, "--wheel/--no-wheel", help="Also build the project wheel."),
) -> None:
    """Build the --py-files zip of the pipeline/classifiers/schemas/jobs packages and the project
    wheel, plus MANIFEST.json (sha256, sizes).

    Ship the zip with `spark-submit --py-files dist/pmc_enrich-<v>-pyfiles.zip jobs/<stage>.py ...`
    to executors whose Python already has the third-party dependencies; install the wheel (or a
    venv-pack archive built from it) where they do not. docs/cluster.md has full examples.
    """
    from pipeline.packaging import build_package

    result = build_package(out, wheel=wheel)
    typer.echo(json.dumps({"out": str(result.out_dir), "files": result.files,
                           "spark_submit": ["--py-files", str(result.pyfiles_zip)]}, indent=2))
