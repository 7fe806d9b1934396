"""Shared fixtures: one SparkSession for the whole test session, the bundled sample, one ingested
run of it that later-stage tests copy instead of re-ingesting, and one standalone cluster shared by
the cluster tests.

Tiers: a test that uses Spark (any fixture that depends on ``spark`` or ``cluster``) is marked
``spark`` here automatically, so ``pytest -m "not spark"`` is the fast tier (no JVM at all). A test
that starts Spark some other way (a CLI command, spark-submit) must carry ``pytest.mark.spark``
itself; a test that starts a JVM in this process without the mark fails and says so.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data"
SHARED = REPO.parent / "shared"
SPARK_FIXTURES = {"spark", "cluster"}  # what starts a JVM; fixtures that use them inherit the mark

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


# ------------------------------------------------------------------------------------------ tiers

def pytest_collection_modifyitems(config, items):
    for item in items:
        # ``fixturenames`` is the closure: ``run_copy`` → ``ingested_run`` → ``spark`` counts.
        if SPARK_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.spark)


def _jvm_running() -> bool:
    context = sys.modules.get("pyspark.core.context") or sys.modules.get("pyspark.context")
    return context is not None and getattr(context.SparkContext, "_gateway", None) is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Keep the fast tier honest: an unmarked test that starts Spark fails with the fix."""
    before = _jvm_running()
    result = yield
    if not before and _jvm_running() and not item.get_closest_marker("spark"):
        pytest.fail(f"{item.nodeid} started Spark but is not marked `spark`: add @pytest.mark.spark "
                    "(or use the `spark` fixture) so `pytest -m \"not spark\"` stays fast", pytrace=False)
    return result


# ----------------------------------------------------------------------------------------- data

@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def bulk_dir(sample_dir: Path) -> Path:
    return sample_dir / "pmc-oa-bulk"


@pytest.fixture(scope="session")
def reference_labels(sample_dir: Path) -> Path:
    return sample_dir / "annotation" / "reference-labels.jsonl"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full shared corpus beside the repo, when present (CI has it; a bare clone may not)."""
    path = SHARED / "data"
    if not path.exists():
        pytest.skip("../shared/data not present")
    return path


# ---------------------------------------------------------------------------------------- Spark

@pytest.fixture(scope="session")
def spark():
    from pipeline.config import SparkConfig
    from pipeline.spark import get_spark

    session = get_spark(SparkConfig(master="local[2]", shuffle_partitions=4, show_progress=False,
                                    log_level="ERROR", driver_memory="2g", quick_jit=True))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def ingested_run(spark, sample_dir: Path, tmp_path_factory):
    """The bundled sample ingested once (bulk packages + other JATS). Treat as read-only:
    tests that write sidecars use ``run_copy``."""
    from pipeline.config import PipelineConfig
    from pipeline.rundir import RunDir
    from pipeline.stage import run_stage
    from pipeline.stages import BY_NAME

    out = tmp_path_factory.mktemp("ingested") / "run"
    cfg = PipelineConfig(inputs=[str(sample_dir / "pmc-oa-bulk"), str(sample_dir / "jats-other")], out=str(out))
    run_stage(BY_NAME["ingest"], cfg, spark_factory=lambda: spark)
    return RunDir(out)


@pytest.fixture
def run_copy(ingested_run, tmp_path):
    """A private, writable copy of the ingested sample run."""
    from pipeline.rundir import RunDir

    dest = tmp_path / "run"
    shutil.copytree(ingested_run.root, dest)
    return RunDir(dest)


# ------------------------------------------------------------------------------ standalone cluster

@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """One Spark standalone cluster (master + 2 workers on 127.0.0.1) for every cluster test of the
    session: JVM start-up is paid once. A test that kills a worker adds one back before it ends.
    Stopped at the end whatever happened, and no JVM of it may outlive that."""
    from test_cluster_harness import StandaloneCluster

    c = StandaloneCluster(tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1, memory="1g")
    try:
        c.start()
        yield c
    finally:
        c.stop()
        left = c.alive_pids()
        assert not left, f"cluster processes still alive after stop(): {left}"


@pytest.fixture(scope="session")
def pyfiles(tmp_path_factory) -> Path:
    """The code bundle spark-submit ships to the cluster (``pmc-enrich package``)."""
    from pipeline.packaging import build_pyfiles_zip

    return build_pyfiles_zip(tmp_path_factory.mktemp("dist"))
