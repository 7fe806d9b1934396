"""`pmc-enrich` console entry point and its one error boundary.

Stage commands are generated from the stage declarations (``pipeline.commands.stages``); the other
commands (predict, query, run, package, ...) are modules of ``pipeline.commands``. Expected failures
(:class:`pipeline.errors.UserError`) print ``error: <what>`` and a hint and exit 2; ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Optional

import typer

from pipeline import __version__
from pipeline.commands import DEBUG, OTHER_COMMANDS, app
from pipeline.errors import UserError
from pipeline.logs import setup_logging



def _register_commands() -> None:
    from pipeline.commands.stages import register

    register()  # one command per declared stage, in run order
    for name in OTHER_COMMANDS:
        importlib.import_module(f"pipeline.commands.{name}")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pmc-enrich {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging (and Spark's own log lines)."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error."),
    version: Optional[bool] = typer.Option(None, "--version", help="Print the version and exit.", is_eager=True,
                                           callback=_print_version),
) -> None:
    DEBUG["on"] = debug
    setup_logging(verbose)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a UserError (or a bad value pydantic caught) becomes one line and exit 2."""
    DEBUG["on"] = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        app(args=argv)
    except UserError as exc:  # raised outside a command (while the app starts): same one line
        if DEBUG["on"]:
            raise
        logging.shutdown()
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
