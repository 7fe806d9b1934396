"""One typer command per stage, generated from its declaration (``pipeline.stages``): the options a
user types are exactly the ones `run` and `spark-submit jobs/<stage>.py` take."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import typer

from pipeline.commands import app
from pipeline.stage import Option, Stage
from pipeline.stages import STAGES

COMMON = (
    ("config", Optional[Path], typer.Option(None, "--config", "-c", help="YAML config file (see configs/); its "
                                            "relative paths are resolved against its folder.")),
    ("sets", Optional[list[str]], typer.Option(None, "--set", help="Override any config key: --set "
                                               "dedup.threshold=0.85 (repeatable).")),
    ("master", Optional[str], typer.Option(None, "--master", help="Spark master URL (default: spark-submit's, "
                                           "else the config's, else local[*]).")),
    ("overwrite", bool, typer.Option(False, "--overwrite", help="Redo the stage even when its outputs are up to "
                                     "date.")),
    ("progress", bool, typer.Option(True, "--progress/--no-progress", help="Progress display.")),
)


def _annotation(option: Option) -> Any:
    if option.multiple:
        return Optional[list[option.type]]  # type: ignore[name-defined]
    return Optional[option.type]


def _parameter(option: Option) -> inspect.Parameter:
    if option.positional:
        default = typer.Argument(None, help=option.help, metavar=option.name.upper().rstrip("S"), show_default=False)
    else:
        help_ = option.help + (f" One of: {', '.join(option.choices)}." if option.choices else "")
        default = typer.Option(None, *option.cli_flags, help=help_, show_default=False)
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=_annotation(option))


def _run_dir_parameter(stage: Stage) -> inspect.Parameter:
    if stage.out_option:
        default = typer.Option(None, "--out", "-o", help="Run directory to write (default: the config's `out`).")
    else:
        default = typer.Argument(..., help="Run directory.", show_default=False)
    return inspect.Parameter("run_dir", inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Optional[Path] if stage.out_option else Path)


def make_command(stage: Stage):
    def command(**values: Any) -> None:
        from pipeline.stage import render_summary, run_stage, stage_config

        for option in stage.options:
            value = values.get(option.name)
            if option.choices and value is not None and value not in option.choices:
                raise typer.BadParameter(f"{value!r} is not one of {', '.join(option.choices)}",
                                         param_hint=option.cli_flags[0])
        cfg = stage_config(stage, values.pop("run_dir"), values, values.pop("config"), values.pop("sets"),
                           values.pop("master"))
        report = run_stage(stage, cfg, overwrite=values.pop("overwrite"), progress=values.pop("progress"))
        typer.echo(render_summary(stage, report))

    params = [_run_dir_parameter(stage)] + [_parameter(o) for o in stage.options] + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in COMMON]
    command.__signature__ = inspect.Signature(params)  # typer reads the options from here
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = stage.help + (f"\n\nWrites {', '.join(stage.writes)}/ and reports/{stage.name}.json."
                                    if stage.writes else "")
    command.__name__ = stage.name
    return command


def register() -> None:
    for stage in STAGES:
        app.command(stage.name)(make_command(stage))
