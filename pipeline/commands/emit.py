"""`pmc-enrich emit`: pretraining shards for one or more recipes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app
from pipeline.commands.common import ConfigOpt, MasterOpt, SetOpt, build_config


@app.command()
def emit(
    run_dir: Path = typer.Argument(..., help="Run directory holding articles/, paragraphs/, dedup/ and annotations/."),
    recipe: Optional[list[str]] = typer.Option(
        None, "--recipe", "-r",
        help="Recipe name (configs/recipes/<NAME>.yaml: BE-Base, BE-Educational, BE-Clinical, BE-ClinicalCase, "
             "BE-French, BE-All) or a YAML file path. Repeatable; default: emit.recipes from the config."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the deterministic global shuffle."),
    shard_mb: Optional[float] = typer.Option(None, "--shard-mb", help="Target shard size in MB (default 256)."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="auto | minilm | regex (token counts)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Re-emit even complete, unchanged variants."),
    config: Optional[Path] = ConfigOpt,
    master: Optional[str] = MasterOpt,
    sets: Optional[list[str]] = SetOpt,
) -> None:
    """Write RUN_DIR/variants/<recipe>/{commercial,noncommercial}/part-*.parquet (zstd, shuffled) and
    manifest.json per recipe. Duplicates are removed first; complete variants are skipped."""
    from jobs.emit import EmitError, run_emit
    from pipeline.emit.recipe import RecipeError
    from pipeline.rundir import RunDir
    from pipeline.spark import get_spark

    cfg = build_config(config, master, sets, **{
        "emit.seed": seed, "emit.tokenizer": tokenizer,
        "emit.shard_bytes": int(shard_mb * 1024 * 1024) if shard_mb is not None else None})
    try:
        from pipeline.emit import load_recipe

        for name in recipe or cfg.emit.recipes:  # validate before starting Spark
            load_recipe(name, cfg.emit.recipe_dirs)
    except RecipeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--recipe") from None
    spark = get_spark(cfg.spark)
    try:
        report = run_emit(spark, RunDir(run_dir), cfg, recipes=recipe, overwrite=overwrite)
    except EmitError as exc:
        typer.echo(f"emit failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({name: {"skipped": v["skipped"], **v["totals"]} for name, v in report["variants"].items()},
                          indent=2))
