"""``spark-submit jobs/run.py [OPTIONS]``: every stage in order, resumable — exactly `pmc-enrich run`
(the same typer command, options, config loader, runner and error handling)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from pipeline.cli import main as cli_main

    cli_main(["run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
