"""Shared plumbing for the stages' ``main()`` so every ``spark-submit jobs/<stage>.py`` behaves alike.

A stage's ``main`` can be as small as::

    def main(argv=None):
        parser = stage_parser("Ingest PMC packages and JATS files.", run_dir="--out")
        parser.add_argument("inputs", nargs="+")              # stage-specific options
        args = parser.parse_args(argv)
        submit("ingest", args, overrides={"inputs": args.inputs}, overwrite=args.overwrite)

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
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)


def stage_parser(description: str, run_dir: str | None = "run_dir") -> argparse.ArgumentParser:
    """An argparse parser with the options every stage job takes.

    ``run_dir`` says how the run directory is given: a positional (default), an option name such as
    ``"--out"`` (then required, still parsed into ``args.run_dir``), or ``None`` for a job that takes
    none (its config names it).
    """
    parser = argparse.ArgumentParser(description=description)
    help_ = "run directory (local path; see docs/cluster.md for object stores)"
    if run_dir == "run_dir":
        parser.add_argument("run_dir", help=help_)
    elif run_dir is not None:
        parser.add_argument(run_dir, dest="run_dir", metavar="RUN_DIR", required=True, help=help_)
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


def submit(stage: str, args: argparse.Namespace, overrides: dict[str, Any] | None = None, *,
           spark: bool = True, render: Callable[[dict], str] | None = None, **options: Any) -> dict:
    """Build config + Spark from parsed ``stage_parser`` args, run the stage, print its report.

    ``overrides`` are dotted config keys (``{"inputs": [...], "ingest.parse_partitions": 8}``);
    ``None`` values are ignored. ``options`` go to ``run_<stage>`` as keyword arguments.
    ``spark=False``: no session is started and ``run_<stage>`` gets ``None`` (stages that need no
    Spark, or make their own session when needed). ``render`` formats the printed report
    (default: JSON).
    """
    from pipeline.commands.common import build_config
    from pipeline.logs import setup_logging
    from pipeline.rundir import RunDir
    from pipeline.spark import get_spark

    setup_logging()
    run_fn = resolve_run_fn(stage)
    cfg = build_config(getattr(args, "config", None), getattr(args, "master", None),
                       getattr(args, "sets", None), out=str(args.run_dir), **(overrides or {}))
    session = get_spark(cfg.spark) if spark else None
    try:
        report = run_fn(session, RunDir(args.run_dir), cfg, **options)
    finally:
        if session is not None:
            session.stop()
    print(render(report) if render else json.dumps(report, indent=2, sort_keys=True, default=str))
    return report


# ------------------------------------------------------------------ shipping folders to executors

# Folders already shipped in this SparkContext: (context id, name) → archive name.
_SHIPPED: dict[tuple[int, str], str] = {}


def ship_directory(spark, directory: str | os.PathLike[str], name: str) -> str:
    """Make a driver-local folder (a trained model, a vocabulary) available on every executor.

    ``SparkContext.addFile(folder, recursive=True)`` only works in local mode: a standalone, YARN
    or Kubernetes master refuses local directories (``UNSUPPORTED_ADD_FILE.LOCAL_DIRECTORY``).
    So the folder is zipped (sorted entries, fixed timestamps) and shipped with ``addArchive``,
    which every master supports; executors unpack it once. Returns the handle to pass to
    ``shipped_directory`` on the executor side. ``name`` must identify the folder's content
    (e.g. a model version): shipping the same name twice in one SparkContext is a no-op.
    """
    sc = spark.sparkContext
    key = (id(sc._jsc), name)
    if key not in _SHIPPED:
        directory = Path(directory)
        if not directory.is_dir():
            raise NotADirectoryError(f"{directory}: not a folder")
        archive = Path(tempfile.mkdtemp(prefix="pmc-enrich-ship-")) / f"{name}.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in directory.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())
        sc.addArchive(str(archive))
        _SHIPPED[key] = archive.name
        log.info("shipped %s to the executors as %s", directory, archive.name)
    return _SHIPPED[key]


def shipped_directory(handle: str) -> str:
    """Executor side: the local path of a folder shipped with ``ship_directory``."""
    from pyspark import SparkFiles

    return SparkFiles.get(handle)
