"""What the driver JVM prints on the console: a quiet log4j2 configuration without Spark's banners.

Spark's default log4j2 profile announces itself ("Using Spark's default log4j profile", "Setting
default log level to ...") and lets start-up warnings through that a user can do nothing about
(no native Hadoop library, a hostname that resolves to a loopback address). The driver JVM reads
its log4j2 configuration once, when it starts, so the quiet one is handed to it as a file through
``spark.driver.extraJavaOptions`` (``-Dlog4j.configurationFile=...``). Executors keep Spark's own
set-up: their logs go to the workers' files, where the tests and operators read them.

Spark's own set-up is kept, banners and all, when the user asks for detail: ``--verbose``, or a
``spark.log_level`` below WARN (INFO, DEBUG, TRACE, ALL). A log4j configuration the user already
passes to the driver (spark-submit, spark-defaults.conf) always wins.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from pipeline.rundir import write_text_atomic

QUIET_LEVELS = ("WARN", "ERROR", "FATAL", "OFF")
LOG4J_OPTION = "-Dlog4j.configurationFile="

# Loggers whose WARN lines are start-up noise (nothing to act on) rather than problems.
NOISE = {
    "nativeloader": "org.apache.hadoop.util.NativeCodeLoader",  # "Unable to load native-hadoop library"
    "loopback": "org.apache.spark.util.Utils",  # "hostname resolves to a loopback address"
    "shutdownhook": "org.apache.spark.util.ShutdownHookManager",
    "parquetrecordreader": "org.apache.parquet.hadoop.ParquetRecordReader",
    "stringutils": "org.apache.spark.sql.catalyst.util.SparkStringUtils",  # "Truncated the string representation"
}

TEMPLATE = """\
# Written by pmc-enrich (pipeline/spark_console.py): the driver's console without Spark's banners.
# WARN, whatever spark.log_level says: under PySpark, Spark prints "Setting default log level" when
# the root level is not WARN. pipeline.spark applies spark.log_level right after start-up.
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{{HH:mm:ss}} %p spark.%c{{1}}: %m%n%ex
{noise}
"""


def wants_spark_banners(log_level: str, verbose: bool) -> bool:
    """Whether Spark's own log4j set-up (banners, start-up warnings) is what the user asked for."""
    return verbose or log_level.upper() not in QUIET_LEVELS


def quiet_log4j2_properties() -> str:
    """The log4j2 properties text: root at WARN on stderr, the known noise at ERROR."""
    noise = "\n".join(f"logger.{key}.name = {name}\nlogger.{key}.level = error" for key, name in NOISE.items())
    return TEMPLATE.format(noise=noise)


def write_quiet_config(folder: Path | None = None) -> Path:
    """Write the configuration once (named by its content, written atomically, so concurrent
    drivers share the same file) and return its path."""
    text = quiet_log4j2_properties()
    folder = Path(folder or Path(tempfile.gettempdir()) / f"pmc-enrich-{os.getuid()}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"log4j2-{hashlib.sha1(text.encode()).hexdigest()[:12]}.properties"
    if not path.exists() or path.read_text() != text:
        write_text_atomic(path, text)
    return path


def driver_java_options(existing: str | None, log_level: str, verbose: bool) -> str | None:
    """``spark.driver.extraJavaOptions`` with the quiet configuration added, or None to leave the
    setting as it is (banners asked for, or a log4j configuration already named)."""
    existing = (existing or "").strip()
    if wants_spark_banners(log_level, verbose) or LOG4J_OPTION in existing:
        return None
    option = f"{LOG4J_OPTION}file:{write_quiet_config()}"
    return f"{existing} {option}".strip()
