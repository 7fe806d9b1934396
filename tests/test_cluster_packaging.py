"""Packaging for spark-submit (no cluster needed): the --py-files zip and the wheel, the jobs'
script entry points, the shared submit helper and the example cluster configs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.packaging import PACKAGES, build_package, build_pyfiles_zip

REPO = Path(__file__).resolve().parent.parent
# The scripts spark-submit runs: the modules of jobs/ with a __main__ block (jobs/ holds helpers too).
STAGE_SCRIPTS = sorted(p for p in (REPO / "jobs").glob("*.py") if 'if __name__ == "__main__":' in p.read_text())


def _repo_modules() -> set[str]:
    return {p.relative_to(REPO).as_posix() for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
            if "__pycache__" not in p.parts and not any(part.startswith(".") for part in p.relative_to(REPO).parts)}


def test_pyfiles_zip_holds_every_module_and_is_reproducible(tmp_path):
    a = build_pyfiles_zip(tmp_path / "a")
    b = build_pyfiles_zip(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes(), "two builds of the same tree differ"
    with zipfile.ZipFile(a) as zf:
        names = set(zf.namelist())
        assert zf.testzip() is None
    assert {n for n in names if n.endswith(".py")} == _repo_modules()
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    assert {"jobs/ingest.py", "jobs/_submit.py", "pipeline/spark.py", "schemas/ingest.py"} <= names


def test_code_imports_from_the_zip_alone(tmp_path):
    """Executors without the project installed: hide the editable install and the checkout, put
    only the zip on sys.path, and import the stage modules from it."""
    zip_path = build_pyfiles_zip(tmp_path / "dist")
    probe = f"""
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
sys.path[:] = [p for p in sys.path if p not in ("", {str(REPO)!r})]
sys.path.insert(0, {str(zip_path)!r})
import importlib
for name in ("pipeline.rundir", "pipeline.sources", "schemas.ingest", "classifiers", "jobs._submit",
             "jobs.ingest", "jobs.dedup"):
    mod = importlib.import_module(name)
    assert mod.__file__.startswith({str(zip_path)!r}), (name, mod.__file__)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_package_command_builds_zip_wheel_and_manifest(tmp_path):
    from pipeline.cli import app

    out = tmp_path / "dist"
    result = CliRunner().invoke(app, ["package", "--out", str(out)])
    assert result.exit_code == 0, result.output
    zips, wheels = sorted(out.glob("*-pyfiles.zip")), sorted(out.glob("pmc_enrich-*.whl"))
    assert len(zips) == 1 and len(wheels) == 1
    manifest = (out / "MANIFEST.json").read_text()
    assert zips[0].name in manifest and wheels[0].name in manifest
    with zipfile.ZipFile(wheels[0]) as wf:
        names = set(wf.namelist())
    assert {"jobs/ingest.py", "pipeline/cli.py", "schemas/__init__.py", "classifiers/__init__.py"} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheels[0]) as wf:
        assert "pmc-enrich = pipeline.cli:main" in wf.read(entry_points).decode()
    # The build leaves the working tree alone (it builds in a staging copy).
    assert not (REPO / "build").exists() or (REPO / "build").stat().st_mtime < out.stat().st_mtime


def test_build_package_without_wheel(tmp_path):
    result = build_package(tmp_path, wheel=False)
    assert result.wheel is None and list(result.files) == [result.pyfiles_zip.name]
    assert result.submit_args() == ["--py-files", str(result.pyfiles_zip)]


def test_every_spark_stage_has_a_spark_submit_script():
    from pipeline.stages import STAGES

    spark_stages = {s.name for s in STAGES if s.spark}
    assert {"ingest", "dedup", "annotate"} <= spark_stages
    missing = spark_stages - {p.stem for p in STAGE_SCRIPTS}
    assert not missing, f"no `spark-submit jobs/<stage>.py` for {sorted(missing)}"


@pytest.mark.parametrize("script", STAGE_SCRIPTS, ids=lambda p: p.stem)
def test_stage_script_runs_as_spark_submit_would(script, tmp_path):
    """spark-submit runs jobs/<stage>.py as __main__ with jobs/ as sys.path[0]: its imports and
    argument parsing must work that way (--help exits before any Spark is started)."""
    proc = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage:" in proc.stdout.lower()


def test_submit_parser_has_the_stage_options_and_resolves_the_importable_build():
    import jobs.dedup
    from jobs._submit import stage_parser
    from pipeline.stages import BY_NAME

    args = stage_parser(BY_NAME["dedup"]).parse_args([
        "RUN", "--threshold", "0.9", "--no-verify", "--set", "spark.shuffle_partitions=3", "--master", "local[1]",
        "--overwrite"])
    assert (args.run_dir, args.threshold, args.verify, args.sets, args.master, args.overwrite) == (
        "RUN", 0.9, False, ["spark.shuffle_partitions=3"], "local[1]", True)
    with pytest.raises(SystemExit):
        stage_parser(BY_NAME["dedup"]).parse_args(["RUN", "--treshold", "0.9"])
    # The build comes from the importable module, never from a __main__ copy of the script.
    assert BY_NAME["dedup"].build_fn() is jobs.dedup.build


def test_cluster_configs_are_valid():
    from pipeline.config import load_config

    folder = REPO / "configs" / "cluster"
    yamls, confs = sorted(folder.glob("*.yaml")), sorted(folder.glob("*.conf"))
    assert yamls and {"standalone.conf", "yarn.conf", "k8s.conf", "s3a.conf"} <= {c.name for c in confs}
    for path in yamls:
        load_config(path)  # raises on an unknown key or a bad value
    for path in confs:
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.strip().partition(" ")
                assert key.startswith("spark.") and value.strip(), f"{path.name}: bad line {line!r}"


def test_ship_directory_reaches_executors(spark, tmp_path):
    """A nested folder shipped with jobs._submit.ship_directory is readable inside tasks (the
    cluster variant runs in tests/test_cluster.py through annotate's model shipping)."""
    from jobs._submit import ship_directory, shipped_directory

    folder = tmp_path / "model"
    (folder / "heads").mkdir(parents=True)
    (folder / "card.json").write_text('{"version": "v1"}')
    (folder / "heads" / "w.bin").write_bytes(bytes(range(256)) * 4)
    handle = ship_directory(spark, folder, "test-model-v1")
    assert ship_directory(spark, folder, "test-model-v1") == handle  # once per context

    def read(_):
        import os

        root = shipped_directory(handle)
        with open(os.path.join(root, "heads", "w.bin"), "rb") as fh:
            data = fh.read()
        with open(os.path.join(root, "card.json")) as fh:
            yield fh.read(), len(data), data[:3]

    assert spark.sparkContext.parallelize([0, 1], 2).mapPartitions(read).collect() == [
        ('{"version": "v1"}', 1024, b"\x00\x01\x02")] * 2
    with pytest.raises(NotADirectoryError):
        ship_directory(spark, folder / "card.json", "not-a-folder")
