"""The local driver's class archive (pipeline/jvm_cache.py): where it lives, how the driver options
name it, and that only an archive the JVM can use is ever published."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import jvm_cache
from pipeline.config import SparkConfig
from pipeline.errors import UserError
from pipeline.spark import driver_options

REPO = Path(__file__).resolve().parent.parent


def test_the_archive_is_named_by_pyspark_and_java_under_the_cache_folder(tmp_path, monkeypatch):
    import pyspark

    monkeypatch.setenv(jvm_cache.CACHE_ENV, str(tmp_path))
    path = jvm_cache.archive_path()
    assert path.parent == tmp_path / "jvm" and path.name.startswith(f"spark-{pyspark.__version__}-")
    assert jvm_cache.driver_option() is None  # nothing built yet: the driver starts as it always did
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    assert jvm_cache.driver_option() == f"-XX:SharedArchiveFile={path} {jvm_cache.QUIET}"


def test_driver_options_name_the_archive_once():
    archive = f"-XX:SharedArchiveFile=/cache/a.jsa {jvm_cache.QUIET}"
    tiered = SparkConfig(quick_jit=False)  # the archive alone (C1, on by default, is tested in test_spark_console)
    options = driver_options("-Xss4m", tiered, verbose=True, class_archive=archive)
    assert options == f"-Xss4m {archive}"
    own = "-XX:SharedArchiveFile=/mine.jsa"
    assert driver_options(own, tiered, verbose=True, class_archive=archive) is None  # the user's wins
    assert driver_options(None, tiered, verbose=True, class_archive=None) is None


@pytest.mark.spark
@pytest.mark.slow
def test_a_broken_dump_is_never_published(tmp_path, monkeypatch):
    """The JVM crashes on a truncated archive, so a dump is kept only once a driver started with
    -Xshare:on accepted it: here the dump is replaced by a truncated file, and nothing is published."""
    monkeypatch.setenv(jvm_cache.CACHE_ENV, str(tmp_path))
    real = jvm_cache._submit

    def truncated_dump(script, java_options, mode, timeout):
        if mode == "warm":
            target = java_options.split("-XX:ArchiveClassesAtExit=", 1)[1].split()[0]
            Path(target).write_bytes(b"\x00" * 4096)
            return subprocess.CompletedProcess([], 0, "", "")
        return real(script, java_options, mode, timeout)

    monkeypatch.setattr(jvm_cache, "_submit", truncated_dump)
    with pytest.raises(UserError, match="not usable"):
        jvm_cache.build_archive()
    assert not jvm_cache.archive_path().exists()
    assert not [p for p in (tmp_path / "jvm").iterdir()], "temporary files left behind"


DRIVER = """
from pipeline.config import SparkConfig
from pipeline.spark import get_spark
spark = get_spark(SparkConfig(master="local[1]", driver_memory="512m", log_level="ERROR"))
assert spark.range(10).count() == 10
print("jvm", " ".join(spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
                      .getInputArguments()))
spark.stop()
"""


@pytest.mark.spark
@pytest.mark.slow
def test_jvm_cache_builds_once_and_drivers_map_it(tmp_path, monkeypatch):
    env = {**os.environ, jvm_cache.CACHE_ENV: str(tmp_path)}
    cli = [sys.executable, "-m", "pipeline.cli", "jvm-cache"]
    first = subprocess.run(cli, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    built = json.loads(first.stdout)
    assert built["built"] and built["bytes"] > 10_000_000 and Path(built["archive"]).is_file()
    again = subprocess.run(cli, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert json.loads(again.stdout)["built"] is False  # kept: one build per machine

    driver = subprocess.run([sys.executable, "-c", DRIVER], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert driver.returncode == 0, driver.stderr[-2000:]
    assert f"-XX:SharedArchiveFile={built['archive']}" in driver.stdout.split("jvm ", 1)[1]
    assert "[warning][cds]" not in driver.stdout + driver.stderr  # the JVM's archive notes stay off the console
    # A truncated archive crashes the JVM: the check refuses it, and the crash log stays in the
    # check's own folder, not in the working directory.
    truncated = tmp_path / "truncated.jsa"
    truncated.write_bytes(Path(built["archive"]).read_bytes()[:1_000_000])
    check = tmp_path / "check"
    check.mkdir()
    (check / "warm_up.py").write_text(jvm_cache.WARM_UP)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    refused = jvm_cache._submit(check / "warm_up.py", f"-Xshare:on -XX:SharedArchiveFile={truncated} {jvm_cache.QUIET}",
                                "check", 300)
    assert refused.returncode != 0
    assert not list(cwd.iterdir()), "the JVM's crash log landed in the working directory"


def test_archives_of_removed_pyspark_installs_are_pruned(tmp_path):
    folder = tmp_path / "jvm"
    folder.mkdir()
    for name, home in (("spark-4.3.0-gone", tmp_path / "deleted-venv"), ("spark-4.3.0-here", tmp_path)):
        (folder / f"{name}.jsa").write_bytes(b"x")
        (folder / f"{name}.json").write_text(json.dumps({"spark_home": str(home)}))
    jvm_cache._prune(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["spark-4.3.0-here.jsa", "spark-4.3.0-here.json"]

    # A new archive for this very pyspark install (java upgraded, say) replaces the older one.
    current = folder / "spark-4.3.0-new.jsa"
    current.write_bytes(b"y")
    current.with_suffix(".json").write_text(json.dumps({"spark_home": str(jvm_cache.spark_home())}))
    (folder / "spark-4.3.0-old.jsa").write_bytes(b"x")
    (folder / "spark-4.3.0-old.json").write_text(json.dumps({"spark_home": str(jvm_cache.spark_home())}))
    jvm_cache._prune(folder, keep=current)
    assert sorted(p.stem for p in folder.glob("*.jsa")) == ["spark-4.3.0-here", "spark-4.3.0-new"]

