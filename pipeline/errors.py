"""Expected failures: the one error type the CLI turns into ``error: <what>`` + hint, exit 2.

Raise :class:`UserError` for anything a user can fix (a bad path, a bad value, a missing upstream
stage, an unreachable server, a folder that is not a run). Everything else is a bug and keeps its
traceback. ``pipeline.cli`` is the only place that catches it.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix. ``hint`` says how (printed on a second line)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class MissingStageError(UserError):
    """An upstream stage's tables are missing or incomplete."""

    def __init__(self, table: str, stage: str, run_root: object):
        super().__init__(f"{run_root}: {table}/ is missing or incomplete",
                         hint=f"run `pmc-enrich {stage} {run_root}` first")
        self.table = table
        self.stage = stage


class NotARunError(UserError):
    """A folder that holds no pmc-enrich run."""

    def __init__(self, path: object):
        super().__init__(f"{path}: not a pmc-enrich run directory (no stage has written to it)",
                         hint="give the folder that `pmc-enrich ingest --out` or `run` wrote, or run "
                              "`pmc-enrich ingest INPUT... --out DIR` first")


class IncompleteStageError(UserError):
    """A stage stopped with work left (an LLM server went away): a rerun finishes it."""
