"""The pipeline on a real Spark standalone cluster (master + 2 workers on 127.0.0.1, started from
what pyspark ships), driven by ``spark-submit jobs/<stage>.py`` in separate driver processes with
the code shipped as ``--py-files`` (``pmc-enrich package``).

* ingest → dedup → annotate on the bundled sample give the same tables as local mode;
* a worker SIGKILLed (with its executors) in the middle of ingest's parse jobs: the job still
  completes and its tables equal the fault-free ones — no lost and no duplicated rows.

The cluster is the session's shared ``cluster`` fixture (tests/conftest.py), stopped in a
finalizer whatever happens (no stray JVMs: checked).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from test_cluster_harness import assert_same_table

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
INGEST_TABLES = ("articles", "paragraphs", "quarantine", "superseded")
DEDUP_TABLES = ("dedup", "dedup_articles")
# The local fixture's Spark settings (tests/conftest.py), so both sides plan the same partitions.
SPARK = {"shuffle_partitions": 4, "show_progress": False, "log_level": "WARN"}
# A small fastText student: the test is about where it runs, not how good it is.
TRAIN = {"student": "fasttext", "fasttext": {"epoch": 5, "bucket": 20000}, "cv_folds": 2, "learning_curve": False}


@pytest.fixture(scope="module")
def cluster_config(cluster, tmp_path_factory) -> Path:
    # spark.master is named in the config as well as on spark-submit's command line: see the
    # report/docs — pipeline.spark.get_spark reads spark-submit's settings before the driver JVM
    # is connected, so without it the driver silently falls back to local[*].
    path = tmp_path_factory.mktemp("cfg") / "cluster.yaml"
    path.write_text(yaml.safe_dump({"spark": {**SPARK, "master": cluster.master_url}, "train": TRAIN}))
    return path


@pytest.fixture(scope="module")
def student_dir(spark, reference_labels, tmp_path_factory) -> Path:
    """A fastText student trained once on the reference labels, shared by both sides."""
    from pipeline.config import PipelineConfig
    from pipeline.rundir import RunDir
    from pipeline.stage import run_stage
    from pipeline.stages import BY_NAME

    run = RunDir(tmp_path_factory.mktemp("model-run"))
    cfg = PipelineConfig(out=str(run.root), train={**TRAIN, "labels": str(reference_labels)})
    run_stage(BY_NAME["train"], cfg, spark_factory=lambda: spark)
    return run.table("model")


def _run_locally(stage: str, spark, run, config: Path, **overrides) -> None:
    """The same stage in this process, on the local session, with the cluster's config."""
    from pipeline.config import load_config
    from pipeline.stage import run_stage
    from pipeline.stages import BY_NAME

    cfg = load_config(config, {"out": str(run.root), **overrides})
    run_stage(BY_NAME[stage], cfg, spark_factory=lambda: spark)


def _figures(run_root: Path, stage: str) -> dict:
    return json.loads((run_root / "reports" / f"{stage}.json").read_text())["figures"]


def _ingest_args(sample_dir: Path, out: Path, config: Path) -> list[str]:
    return [str(sample_dir / "pmc-oa-bulk"), str(sample_dir / "jats-other"), "--out", str(out), "--config", str(config)]


def _assert_ran_on_cluster(cluster, driver_log: str, apps_before: int) -> None:
    """The driver really used the standalone master: executors ran in the workers' folders."""
    assert "Starting executor ID driver" not in driver_log, "the driver ran in local mode"
    apps = {p.name for d in cluster.work_dirs() for p in d.glob("app-*")}
    assert len(apps) == apps_before + 1, f"expected one new application on the workers, found {sorted(apps)}"


def _apps(cluster) -> int:
    return len({p.name for d in cluster.work_dirs() for p in d.glob("app-*")})


@pytest.fixture(scope="module")
def cluster_run(cluster, pyfiles, cluster_config, sample_dir, tmp_path_factory) -> Path:
    """The bundled sample ingested on the cluster (dedup and annotate then run on it)."""
    work = tmp_path_factory.mktemp("cluster-pipeline")
    out = work / "cluster-run"
    apps = _apps(cluster)
    text = cluster.run(REPO / "jobs" / "ingest.py", *_ingest_args(sample_dir, out, cluster_config),
                       log=work / "ingest.log", cwd=work, py_files=pyfiles)
    _assert_ran_on_cluster(cluster, text, apps)
    return out


def test_ingest_on_cluster_matches_local(cluster_run, ingested_run):
    assert _figures(cluster_run, "ingest")["inputs"]["units_parsed"] == 4  # really parsed, not skipped
    rows = {t: assert_same_table(cluster_run / t, ingested_run.table(t), t, file_level=True) for t in INGEST_TABLES}
    assert rows["articles"] > 150 and rows["paragraphs"] > 5000


def test_dedup_on_cluster_matches_local(cluster, pyfiles, cluster_config, cluster_run, run_copy, spark, tmp_path):
    apps = _apps(cluster)
    text = cluster.run(REPO / "jobs" / "dedup.py", str(cluster_run), "--config", str(cluster_config),
                       log=tmp_path / "dedup.log", cwd=tmp_path, py_files=pyfiles)
    _assert_ran_on_cluster(cluster, text, apps)
    _run_locally("dedup", spark, run_copy, cluster_config)
    for t in DEDUP_TABLES:
        assert_same_table(cluster_run / t, run_copy.table(t), t, file_level=True)


def test_annotate_on_cluster_matches_local(cluster, pyfiles, cluster_config, cluster_run, student_dir, run_copy,
                                           spark, tmp_path):
    apps = _apps(cluster)
    text = cluster.run(REPO / "jobs" / "annotate.py", str(cluster_run), "--model", str(student_dir),
                       "--config", str(cluster_config), log=tmp_path / "annotate.log", cwd=tmp_path, py_files=pyfiles)
    _assert_ran_on_cluster(cluster, text, apps)
    _run_locally("annotate", spark, run_copy, cluster_config, **{"annotate.model": str(student_dir)})
    n = assert_same_table(cluster_run / "annotations", run_copy.table("annotations"), "annotations", file_level=True)
    assert n == _figures(cluster_run, "ingest")["paragraphs"]


def _tasks_running(worker_dir: Path, skip_apps: set[str] = frozenset()) -> int:
    """Tasks an executor of this worker has started and not finished (from its own log)."""
    running = 0
    for log in worker_dir.glob("app-*/*/stderr"):
        if log.parent.parent.name in skip_apps:
            continue
        text = log.read_text(errors="replace")
        running += text.count("Running task") - text.count("Finished task")
    return running


def test_lost_worker_mid_ingest(cluster, pyfiles, cluster_config, sample_dir, ingested_run, tmp_path):
    """SIGKILL worker 1 (its JVM, executors and Python workers) while one of its tasks runs, once
    the first input unit is staged (so the others are mid-parse), and check the run completes
    with exactly the fault-free tables: no lost and no duplicated rows."""
    config = tmp_path / "fault.yaml"  # INFO on the driver: Spark logs re-run lost tasks at INFO
    config.write_text(yaml.safe_dump({**yaml.safe_load(cluster_config.read_text()),
                                      "spark": {**yaml.safe_load(cluster_config.read_text())["spark"],
                                                "log_level": "INFO"}}))
    out, log = tmp_path / "cluster-run", tmp_path / "ingest-fault.log"
    apps = _apps(cluster)
    victim = cluster.work_dirs()[1]
    old_apps = {p.name for p in victim.glob("app-*")}
    driver = cluster.submit(REPO / "jobs" / "ingest.py", *_ingest_args(sample_dir, out, config),
                            log=log, cwd=tmp_path, py_files=pyfiles)
    deadline = time.time() + 600
    while not ("ingest: staged" in log.read_text(errors="replace") and _tasks_running(victim, old_apps) > 0):
        assert driver.poll() is None, f"driver ended before the fault could be injected:\n{log.read_text()[-4000:]}"
        assert time.time() < deadline, "no moment with a staged unit and a task on worker 1 in 600 s"
        time.sleep(0.1)
    staged_before_kill = log.read_text(errors="replace").count("ingest: staged")
    cluster.kill_worker(1)
    try:
        assert driver.poll() is None, "the driver finished before the worker was killed: not a mid-job fault"
        rc = driver.wait(timeout=600)
    finally:
        cluster.add_worker()  # the cluster is shared: leave it with as many workers as it had
    text = log.read_text(errors="replace")
    assert rc == 0, f"ingest failed after losing a worker:\n{text[-6000:]}"
    _assert_ran_on_cluster(cluster, text, apps)
    # The loss was real and hit running work: the driver lost the victim's executor and re-ran its
    # task(s). Executor ids follow registration order, not worker order: read the victim's own id
    # from its work dir (app-*/<executor id>/).
    victim_ids = sorted(d.name for app in victim.glob("app-*") if app.name not in old_apps
                        for d in app.iterdir() if d.is_dir())
    assert victim_ids, "the killed worker ran no executor of this application"
    assert any(f"Lost executor {eid} " in text or f"Lost executor {eid}:" in text for eid in victim_ids), \
        (victim_ids, text[-4000:])
    assert "its executor exited for a reason unrelated to the task" in text, text[-4000:]
    assert text.count("ingest: staged") == 4 and staged_before_kill < 4
    for table in INGEST_TABLES:
        assert_same_table(out / table, ingested_run.table(table), table)
