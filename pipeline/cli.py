"""`pmc-enrich` console entry point: collects every stage command from pipeline.commands."""

from __future__ import annotations

import importlib
import pkgutil

import typer

import pipeline.commands as commands
from pipeline import __version__
from pipeline.commands import ORDER, app
from pipeline.logs import setup_logging


def _register_commands() -> None:
    found = {m.name for m in pkgutil.iter_modules(commands.__path__) if m.name != "common"}
    for name in [n for n in ORDER if n in found] + sorted(found - set(ORDER)):
        importlib.import_module(f"pipeline.commands.{name}")


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()
    setup_logging(verbose)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
