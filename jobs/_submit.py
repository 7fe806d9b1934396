"""Shared plumbing for the stages' ``main()`` so every ``spark-submit jobs/<stage>.py`` behaves alike.

A stage's ``main`` can be as small as::

    def main(argv=None):
        parser = stage_parser("Ingest PMC packages and JATS files.")
        parser.add_argument("--input", action="append")      # stage-specific options
        args = parser.parse_args(argv)
        submit("ingest", args, overrides={"inputs": args.input}, overwrite=args.overwrite)

Why a helper: spark-submit runs ``jobs/<stage>.py`` as ``__main__``. Functions defined there are
pickled *by value* when shipped to executors (cloudpickle cannot import ``__main__`` remotely),
which breaks as soon as they close over something unpicklable and silently differs from the CLI
path. ``submit`` therefore resolves ``run_<stage>`` from the importable module ``jobs.<stage>``
(shipped with ``--py-files`` or installed), so the driver and executors run the same code in
either launch mode. It also gives every job the same options as the CLI (``--config``, ``--set``,
``--master``), logging, a JSON report on stdout, and a clean ``SparkSession.stop()``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
from typing import Any, Callable

log = logging.getLogger(__name__)


def stage_parser(description: str) -> argparse.ArgumentParser:
    """An argparse parser with the options every stage job takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run_dir", help="run directory (local path; see docs/cluster.md for object stores)")
    parser.add_argument("--config", "-c", help="YAML config file (see configs/)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key (repeatable), e.g. --set spark.shuffle_partitions=64")
    parser.add_argument("--master", help="Spark master; default: spark-submit's --master, else local[*]")
    parser.add_argument("--overwrite", action="store_true", help="redo the stage even if it is complete")
    return parser


def resolve_run_fn(stage: str) -> Callable[..., dict]:
    """``run_<stage>`` from the importable module ``jobs.<stage>`` (never from ``__main__``)."""
    module = importlib.import_module(f"jobs.{stage}")
    try:
        return getattr(module, f"run_{stage}")
    except AttributeError:
        raise SystemExit(f"jobs/{stage}.py defines no run_{stage}(spark, run, cfg, **options)") from None


def submit(stage: str, args: argparse.Namespace, overrides: dict[str, Any] | None = None,
           **options: Any) -> dict:
    """Build config + Spark from parsed ``stage_parser`` args, run the stage, print its report.

    ``overrides`` are dotted config keys (``{"inputs": [...], "ingest.parse_partitions": 8}``);
    ``None`` values are ignored. ``options`` go to ``run_<stage>`` as keyword arguments.
    """
    from pipeline.commands.common import build_config
    from pipeline.logs import setup_logging
    from pipeline.rundir import RunDir
    from pipeline.spark import get_spark

    setup_logging()
    run_fn = resolve_run_fn(stage)
    cfg = build_config(getattr(args, "config", None), getattr(args, "master", None),
                       getattr(args, "sets", None), out=str(args.run_dir), **(overrides or {}))
    spark = get_spark(cfg.spark)
    try:
        report = run_fn(spark, RunDir(args.run_dir), cfg, **options)
    finally:
        spark.stop()
    print(json.dumps(report, indent=2, sort_keys=True, default=str))
    return report
