"""The typer app. Stage commands are generated from the declarations (``stages.py`` here); the
other commands (predict, query, run, package) are modules that register themselves on ``app``."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from pipeline.errors import UserError

DEBUG = {"on": False}  # set by the root --debug option


class _UserErrorsExit2(TyperGroup):
    """The one error boundary: a UserError from any command prints ``error: <what>`` and its hint and
    exits 2, however the command is invoked (console script, ``main()``, ``CliRunner``)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            if DEBUG["on"]:
                raise
            typer.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                typer.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(2)


app = typer.Typer(
    cls=_UserErrorsExit2,
    name="pmc-enrich",
    help="PMC Open Access → deduplicated, LLM-labelled, distilled pretraining shards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The commands that are not stages, in `--help` order after the stages.
OTHER_COMMANDS = ["predict", "query", "run", "package", "jvm_cache"]
