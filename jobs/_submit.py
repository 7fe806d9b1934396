"""``spark-submit jobs/<stage>.py ...``: the same options as ``pmc-enrich <stage>``, generated from the
stage's declaration (``pipeline.stages``), the same config loader, runner and error handling.

Why a helper: spark-submit runs ``jobs/<stage>.py`` as ``__main__``. Functions defined there are
pickled *by value* when shipped to executors (cloudpickle cannot import ``__main__`` remotely), so
the build is resolved from the importable module ``jobs.<stage>`` (shipped with ``--py-files`` or
installed): the driver and executors run the same code in either launch mode.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)


def stage_parser(stage) -> argparse.ArgumentParser:
    """An argparse parser with exactly the options of ``pmc-enrich <stage>``."""
    parser = argparse.ArgumentParser(prog=f"jobs/{stage.name}.py", description=stage.help)
    if stage.out_option:
        parser.add_argument("--out", "-o", dest="run_dir", metavar="RUN_DIR", help="run directory to write")
    else:
        parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory")
    for option in stage.options:
        kwargs: dict = {"help": option.help}
        if option.choices:
            kwargs["choices"] = option.choices
        if option.type is bool:
            on, _, off = option.cli_flags[0].partition("/")
            parser.add_argument(on, dest=option.name, action="store_const", const=True, default=None, **kwargs)
            if off:
                parser.add_argument(off, dest=option.name, action="store_const", const=False)
            continue
        kwargs["type"] = option.type
        if option.positional:
            parser.add_argument(option.name, nargs="*" if option.multiple else "?", metavar=option.name.upper(),
                                **kwargs)
        else:
            parser.add_argument(*option.cli_flags, dest=option.name, action="append" if option.multiple else "store",
                                **kwargs)
    parser.add_argument("--config", "-c", help="YAML config file (see configs/)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key (repeatable), e.g. --set spark.shuffle_partitions=64")
    parser.add_argument("--master", help="Spark master; default: spark-submit's --master, else local[*]")
    parser.add_argument("--overwrite", action="store_true", help="redo the stage even when it is up to date")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def submit_main(name: str, argv: list[str] | None = None) -> dict:
    """Parse ``argv`` for stage ``name``, run it under the contract, print its summary; a user's
    mistake prints ``error: ...`` and exits 2, as the CLI does."""
    from pipeline.errors import UserError
    from pipeline.logs import setup_logging
    from pipeline.stage import render_summary, run_stage, stage_config
    from pipeline.stages import BY_NAME

    stage = BY_NAME[name]
    args = stage_parser(stage).parse_args(argv)
    setup_logging()
    spark_holder: list = []

    def spark_factory():
        from pipeline.spark import get_spark

        spark_holder.append(get_spark(cfg.spark))
        return spark_holder[-1]

    try:
        cfg = stage_config(stage, args.run_dir, vars(args), args.config, args.sets, args.master)
        report = run_stage(stage, cfg, overwrite=args.overwrite, progress=False, spark_factory=spark_factory)
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        for spark in spark_holder:
            spark.stop()
    print(render_summary(stage, report))
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
