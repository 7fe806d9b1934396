"""CLI commands, one module per stage; each registers itself on ``app``."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pmc-enrich",
    help="PMC Open Access → deduplicated, LLM-labelled, distilled pretraining shards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Stage order for `--help`; modules not listed are registered after these.
ORDER = [
    "ingest", "dedup", "sample", "label", "train", "predict", "annotate",
    "emit", "catalog", "query", "report", "run", "package",
]
