"""The typer app. Stage commands are generated from the declarations (``stages.py`` here); the
other commands (predict, query, run, package) are modules that register themselves on ``app``."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pmc-enrich",
    help="PMC Open Access → deduplicated, LLM-labelled, distilled pretraining shards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The commands that are not stages, in `--help` order after the stages.
OTHER_COMMANDS = ["predict", "query", "run", "package"]
