"""Shared fixtures: one SparkSession for the whole test session, the bundled sample, and one
ingested run of it that later-stage tests copy instead of re-ingesting."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data"
SHARED = REPO.parent / "shared"

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


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


@pytest.fixture(scope="session")
def spark():
    from pipeline.config import SparkConfig
    from pipeline.spark import get_spark

    session = get_spark(SparkConfig(master="local[2]", shuffle_partitions=4, show_progress=False,
                                    log_level="ERROR", driver_memory="2g"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def ingested_run(spark, sample_dir: Path, tmp_path_factory):
    """The bundled sample ingested once (bulk packages + other JATS). Treat as read-only:
    tests that write sidecars use ``run_copy``."""
    from jobs.ingest import run_ingest
    from pipeline.config import PipelineConfig
    from pipeline.rundir import RunDir

    out = tmp_path_factory.mktemp("ingested") / "run"
    cfg = PipelineConfig(inputs=[str(sample_dir / "pmc-oa-bulk"), str(sample_dir / "jats-other")], out=str(out))
    run_ingest(spark, RunDir(out), cfg)
    return RunDir(out)


@pytest.fixture
def run_copy(ingested_run, tmp_path):
    """A private, writable copy of the ingested sample run."""
    from pipeline.rundir import RunDir

    dest = tmp_path / "run"
    shutil.copytree(ingested_run.root, dest)
    return RunDir(dest)
