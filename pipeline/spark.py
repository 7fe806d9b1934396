"""The one place a SparkSession is built.

local[*] by default; when launched by spark-submit (``spark.master`` already set in the
environment's SparkConf) that master wins unless the config names one explicitly.

The console stays readable: the driver JVM starts with a quiet log4j2 configuration (no banners,
no start-up noise; ``pipeline.spark_console``) unless ``--verbose`` or ``spark.log_level`` asks for
Spark's own lines, and Spark's ``\\r`` progress bar is only drawn on a terminal.
"""

from __future__ import annotations

import logging
import os
import sys

from pipeline import jvm_cache
from pipeline.config import SparkConfig
from pipeline.logs import verbose_requested
from pipeline.spark_console import driver_java_options

log = logging.getLogger(__name__)

JAVA_OPTIONS = "spark.driver.extraJavaOptions"
# C1 only, with the code cache of a tiered JVM: C1-only ("emulated client") shrinks it to 48 MB,
# which Spark's generated code fills ("CodeCache is full. Compiler has been disabled").
QUICK_JIT = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"


def driver_options(existing: str | None, cfg: SparkConfig, verbose: bool, class_archive: str | None = None) -> str | None:
    """The driver JVM's options: what is set, plus C1-only compilation when ``quick_jit`` asks
    for it, plus ``class_archive`` (the options mapping the class archive, ``pipeline.jvm_cache``)
    unless an archive is already named, plus the quiet log4j configuration; None leaves the
    setting untouched."""
    options = existing
    if cfg.quick_jit and "-XX:TieredStopAtLevel" not in (options or ""):
        options = f"{options or ''} {QUICK_JIT}".strip()
    if class_archive and "SharedArchiveFile" not in (options or ""):
        options = f"{options or ''} {class_archive}".strip()
    quiet = driver_java_options(options, cfg.log_level, verbose)
    return quiet if quiet is not None else (options if options != existing else None)


def get_spark(cfg: SparkConfig | None = None):
    """Return a configured SparkSession (creating it if needed)."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    cfg = cfg or SparkConfig()
    # Executors must run the same interpreter as the driver (our venv), or they will not
    # find lxml, fasttext, datasketch, ...
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    launched_by_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    if launched_by_submit:
        # Launched by spark-submit: its JVM already holds --master, --driver-memory, --conf ...;
        # connect to it first, or SparkConf() below would not see them.
        SparkContext._ensure_initialized()
    conf = SparkConf()  # picks up spark-submit's settings
    builder = SparkSession.builder.appName(cfg.app_name)
    if cfg.master:
        builder = builder.master(cfg.master)
    elif not conf.contains("spark.master"):
        builder = builder.master("local[*]")
    defaults = {
        "spark.driver.memory": cfg.driver_memory,
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.compression.codec": "zstd",
        # Spark's default INT96 timestamps read back elsewhere (pyarrow, DuckDB) as naive ns.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Spark redraws its bar with \r: in a log file every frame would stay.
        "spark.ui.showConsoleProgress": "true" if cfg.show_progress and sys.stderr.isatty() else "false",
        "spark.ui.enabled": "false",
        # No _SUCCESS files: completeness is our own _COMPLETE marker (pipeline.rundir).
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.python.worker.reuse": "true",
    }
    for key, value in defaults.items():
        if conf.contains(key):
            continue  # what spark-submit (or spark-defaults.conf) set wins over our defaults
        builder = builder.config(key, value)
    for key, value in cfg.extra_conf.items():  # explicit config always wins
        builder = builder.config(key, value)
    if not launched_by_submit:  # spark-submit's driver JVM is already running with its own options
        archive = jvm_cache.driver_option() if cfg.class_cache else None
        java_options = driver_options(cfg.extra_conf.get(JAVA_OPTIONS, conf.get(JAVA_OPTIONS, None)), cfg,
                                      verbose_requested(), archive)
        if archive:
            log.debug("Spark driver maps the class archive (%s)", archive)
        elif cfg.class_cache:
            log.info("no JVM class archive on this machine: `pmc-enrich jvm-cache` (once, ~45 s) makes "
                     "every local Spark start ~4 s sooner")
        if java_options is not None:
            builder = builder.config(JAVA_OPTIONS, java_options)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.log_level)
    log.info("Spark %s master=%s", spark.version, spark.sparkContext.master)
    return spark
