"""``spark-submit jobs/run.py --config FILE``: every stage in order, resumable (``pipeline.run_stages``)."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> None:
    from pipeline.config import parse_set_options
    from pipeline.errors import UserError
    from pipeline.logs import setup_logging
    from pipeline.run_stages import load_run_config, run_pipeline

    parser = argparse.ArgumentParser(prog="jobs/run.py", description="Run every pmc-enrich stage in order (resumable).")
    parser.add_argument("--config", "-c", help="YAML config (default: configs/sample.yaml)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--master")
    parser.add_argument("--stage", action="append", help="only these stages (repeatable)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        overrides = {**parse_set_options(args.sets), **({"spark.master": args.master} if args.master else {})}
        summary = run_pipeline(load_run_config(args.config, overrides), stages=args.stage,
                               overwrite=args.overwrite, progress=False)
    except UserError as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
