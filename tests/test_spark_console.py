"""The driver's console: no JVM/Spark banners or start-up noise unless asked (``--verbose`` or a
``spark.log_level`` below WARN); a log4j configuration the user passes always wins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.spark_console import (
    LOG4J_OPTION,
    NOISE,
    driver_java_options,
    quiet_log4j2_properties,
    wants_spark_banners,
    write_quiet_config,
)

REPO = Path(__file__).resolve().parent.parent
BANNERS = ("Using Spark's default log4j profile", "Setting default log level to", "To adjust logging level use",
           "Unable to load native-hadoop library", "resolves to a loopback address")


def test_banners_only_when_asked():
    assert not wants_spark_banners("WARN", verbose=False)
    assert not wants_spark_banners("error", verbose=False)
    assert wants_spark_banners("WARN", verbose=True)
    assert wants_spark_banners("INFO", verbose=False)
    assert wants_spark_banners("debug", verbose=False)


def test_quiet_config_file(tmp_path):
    text = quiet_log4j2_properties()
    assert "rootLogger.level = warn" in text  # spark.log_level is applied after start-up
    assert "appender.console.target = SYSTEM_ERR" in text
    for name in NOISE.values():
        assert f"= {name}\n" in text
    a = write_quiet_config(tmp_path)
    b = write_quiet_config(tmp_path)
    assert a == b and a.read_text() == text  # named by content: written once, shared
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left behind"


def test_driver_java_options_keep_what_the_user_set():
    options = driver_java_options("-Xss4m", "WARN", verbose=False)
    assert options.startswith("-Xss4m ") and LOG4J_OPTION + "file:" in options
    assert Path(options.split(LOG4J_OPTION + "file:")[1]).is_file()
    assert driver_java_options(None, "WARN", verbose=True) is None
    assert driver_java_options("", "INFO", verbose=False) is None
    own = f"{LOG4J_OPTION}file:/etc/spark/log4j2.properties"
    assert driver_java_options(own, "WARN", verbose=False) is None


def test_quick_jit_joins_the_driver_options_once():
    from pipeline.config import SparkConfig
    from pipeline.spark import QUICK_JIT, driver_options

    quick = SparkConfig(quick_jit=True)
    options = driver_options("-Xss4m", quick, verbose=False)
    assert options.startswith(f"-Xss4m {QUICK_JIT} ") and LOG4J_OPTION in options
    assert driver_options(QUICK_JIT, quick, verbose=False).count(QUICK_JIT) == 1
    assert driver_options("-XX:TieredStopAtLevel=2", quick, verbose=True) is None  # the user's choice stands
    assert driver_options(None, quick, verbose=True) == QUICK_JIT  # Spark's banners wanted: no log4j file
    assert SparkConfig().quick_jit  # on by default (local drivers only; docs/scaling.md §2.5)
    tiered = SparkConfig(quick_jit=False)
    assert QUICK_JIT not in driver_options(None, tiered, verbose=False)
    assert driver_options(None, tiered, verbose=True) is None


DRIVER = """
import sys
from pipeline.config import SparkConfig
from pipeline.logs import setup_logging
from pipeline.spark import get_spark

setup_logging(verbose=sys.argv[2] == "verbose")
spark = get_spark(SparkConfig(master="local[1]", log_level=sys.argv[1], driver_memory="512m", show_progress=True,
                              quick_jit=True))
print("rows", spark.range(100).repartition(3).count())
print("jvm", " ".join(spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
                      .getInputArguments()))
spark.stop()
"""


def _driver_console(tmp_path: Path, level: str, verbose: bool) -> str:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.run([sys.executable, str(script), level, "verbose" if verbose else "quiet"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows 100" in proc.stdout
    jvm = proc.stdout.split("jvm ", 1)[1]
    assert "-XX:TieredStopAtLevel=1" in jvm and "-XX:ReservedCodeCacheSize=240m" in jvm, "spark.quick_jit did not reach the JVM"
    return proc.stderr


@pytest.mark.spark
@pytest.mark.slow
def test_driver_console_is_quiet_unless_verbose(tmp_path):
    """Two real drivers, their stderr captured (not a TTY): the quiet one prints our own log line
    and no banner or ``\\r`` frame of Spark's console bar; ``--verbose`` brings Spark's lines back."""
    for level in ("WARN", "ERROR"):
        quiet = _driver_console(tmp_path, level, verbose=False)
        assert not [b for b in BANNERS if b in quiet], quiet
        assert "\r" not in quiet, "Spark's console progress bar drew into a file"
        assert "INFO pipeline.spark: Spark " in quiet

    verbose = _driver_console(tmp_path, "WARN", verbose=True)
    assert "Using Spark's default log4j profile" in verbose
