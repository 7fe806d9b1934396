"""A class-data-sharing archive of the local Spark driver's classes (the JDK's AppCDS), built once
per machine by ``pmc-enrich jvm-cache``.

Starting the driver JVM loads, parses and verifies ~15,000 classes of Spark's jars, and the first
Arrow job loads thousands more; that is most of a small run's fixed cost. A dynamic CDS archive
holds those classes as the JVM had them after a warm-up job (``-XX:ArchiveClassesAtExit``); a later
driver maps it (``-XX:SharedArchiveFile``) and skips that work: measured on the 2-core dev VM, the
session starts in ~3 s instead of ~6 and its first Arrow job takes ~2 s instead of ~3.5
(docs/scaling.md §2.4).

Safety: the JVM checks that an archive matches its own build and class path, and silently runs
without it otherwise (a stale archive only costs the speed-up). A *truncated* archive, however,
crashes the JVM, so the archive is dumped under a temporary name by a ``spark-submit`` child (whose
process is the JVM: it returns after the dump), proven usable by a second driver started with
``-Xshare:on`` (which refuses to start on an unusable archive), and only then renamed into place.
The name carries the pyspark version and the java binary, so an upgrade of either builds a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.errors import UserError

log = logging.getLogger(__name__)

CACHE_ENV = "PMC_ENRICH_CACHE"  # overrides the cache folder ($XDG_CACHE_HOME or ~/.cache)/pmc-enrich
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"  # the JVM's archive warnings would land on the console

WARM_UP = """
import sys, tempfile
from pyspark.sql import SparkSession, Window, functions as F
spark = SparkSession.builder.appName("pmc-enrich jvm-cache").getOrCreate()
if sys.argv[1] == "warm":  # the kinds of work a stage does: Arrow batches, shuffles, windows, Parquet
    def same(batches):
        yield from batches
    with tempfile.TemporaryDirectory() as folder:
        df = (spark.range(0, 200, 1, 2).withColumn("k", F.col("id") % 7)
              .withColumn("s", F.concat_ws("-", F.lit("x"), F.col("id").cast("string"))))
        df = df.mapInArrow(same, df.schema)
        agg = df.groupBy("k").agg(F.count("*").alias("n"), F.countDistinct("s").alias("d"),
                                  F.collect_list("s").alias("l"))
        rows = (df.join(agg, "k").withColumn("r", F.row_number().over(Window.partitionBy("k").orderBy("id")))
                .localCheckpoint(eager=True))
        rows.orderBy("k", "id").write.parquet(folder + "/t")
        spark.read.parquet(folder + "/t").where(F.col("r") < 3).count()
        spark.sparkContext.parallelize([1, 2], 2).map(lambda x: x).collect()
spark.stop()
"""


def cache_folder() -> Path:
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pmc-enrich"


def spark_home() -> Path:
    import pyspark

    return Path(os.environ.get("SPARK_HOME") or Path(pyspark.__file__).resolve().parent)


def java_binary() -> Path | None:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def archive_path() -> Path | None:
    """Where this machine's archive lives for this pyspark and this java; None without a java."""
    import pyspark

    java = java_binary()
    if java is None:
        return None
    stamp = hashlib.sha1(f"{java}|{java.stat().st_mtime_ns}|{spark_home()}".encode()).hexdigest()[:12]
    return cache_folder() / "jvm" / f"spark-{pyspark.__version__}-{stamp}.jsa"


def driver_option() -> str | None:
    """The driver JVM options that map the archive, or None when there is none (yet)."""
    path = archive_path()
    if path is None or not path.is_file():
        return None
    return f"-XX:SharedArchiveFile={path} {QUIET}"


def _prune(folder: Path, keep: Path | None = None) -> None:
    """Remove the archives (~190 MB each) of pyspark installs that are gone, and those that ``keep``
    replaces (same pyspark install, an older java or pyspark version)."""
    mine = str(spark_home())
    for note in folder.glob("spark-*.json"):
        try:
            home = json.loads(note.read_text()).get("spark_home")
        except ValueError:
            continue
        archive = note.with_suffix(".jsa")
        gone = home and not Path(home).is_dir()
        replaced = keep is not None and home == mine and archive != keep
        if gone or replaced:
            archive.unlink(missing_ok=True)
            note.unlink(missing_ok=True)
            log.info("jvm-cache: removed %s (%s)", archive.name,
                     f"its pyspark at {home} is gone" if gone else f"replaced by {keep.name}")


def _submit(script: Path, java_options: str, mode: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_HOME": str(spark_home())}
    cmd = [str(spark_home() / "bin" / "spark-submit"), "--master", "local[2]", "--driver-memory", "1g",
           "--driver-java-options", java_options, str(script), mode]
    # In the script's (temporary) folder: a JVM that crashes on a bad archive leaves its
    # hs_err_pid*.log there, not in the user's working directory.
    try:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=script.parent)
    except subprocess.TimeoutExpired:
        raise UserError(f"jvm-cache: the {mode} driver took over {timeout:.0f} s; nothing was kept") from None


def build_archive(rebuild: bool = False, timeout: float = 600) -> dict:
    """Build (or keep) this machine's archive; returns what was done, for the command's summary."""
    path = archive_path()
    if path is None:
        raise UserError("no java found (JAVA_HOME or PATH): Spark needs Java 17 or later")
    if path.is_file() and not rebuild:
        return {"archive": str(path), "built": False, "bytes": path.stat().st_size}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"jvm-cache: cannot create {path.parent} ({exc.strerror})",
                        hint=f"point {CACHE_ENV} at a writable folder") from None
    started = time.time()
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-jvm-") as folder:
        script = Path(folder) / "warm_up.py"
        script.write_text(WARM_UP)
        tmp = Path(folder) / path.name
        dumped = _submit(script, f"-XX:ArchiveClassesAtExit={tmp} {QUIET}", "warm", timeout)
        if dumped.returncode != 0 or not tmp.is_file():
            raise UserError(f"jvm-cache: the warm-up driver failed (exit {dumped.returncode}): "
                            f"{(dumped.stderr or '').strip().splitlines()[-1:] or ['no output']}")
        # -Xshare:on makes an unusable archive a start-up failure instead of a silent fallback.
        checked = _submit(script, f"-Xshare:on -XX:SharedArchiveFile={tmp} {QUIET}", "check", timeout)
        if checked.returncode != 0:
            raise UserError(f"jvm-cache: the archive the JVM wrote is not usable (exit {checked.returncode}); "
                            "nothing was kept")
        os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps({"spark_home": str(spark_home()), "java": str(java_binary())}))
    _prune(path.parent, keep=path)
    log.info("jvm-cache: %s (%.0f MB) in %.0f s", path, path.stat().st_size / 2**20, time.time() - started)
    return {"archive": str(path), "built": True, "bytes": path.stat().st_size,
            "seconds": round(time.time() - started, 1)}
