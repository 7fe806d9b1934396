"""Same input + same config → identical Parquet contents: the same rows, in the same number of
files, with the same rows in each file in the same order (file names carry a per-write UUID, so
files are matched by part index). Local mode; tests/test_cluster.py checks cluster == local."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from test_cluster_harness import assert_same_table, file_layout

INGEST_TABLES = ("articles", "paragraphs", "quarantine", "superseded")


def test_ingest_twice_gives_identical_tables(spark, sample_dir, ingested_run, tmp_path):
    """A second ingest of the same inputs (fresh run dir) equals the session's first one."""
    from pipeline.config import PipelineConfig
    from stagetools import run

    out = tmp_path / "again"
    cfg = PipelineConfig(inputs=[str(sample_dir / "pmc-oa-bulk"), str(sample_dir / "jats-other")], out=str(out))
    run("ingest", spark, cfg)
    for table in INGEST_TABLES:
        assert_same_table(out / table, ingested_run.table(table), table, file_level=True)
    assert len(file_layout(out / "paragraphs")) >= 1


@pytest.fixture(scope="module")
def student(spark, reference_labels, tmp_path_factory) -> Path:
    from pipeline.config import PipelineConfig
    from pipeline.rundir import RunDir
    from stagetools import config_for
    from stagetools import run as run_stage

    run = RunDir(tmp_path_factory.mktemp("det-model"))
    cfg = PipelineConfig(train={"student": "fasttext", "labels": str(reference_labels),
                                "fasttext": {"epoch": 5, "bucket": 20000}, "cv_folds": 2, "learning_curve": False})
    run_stage("train", spark, config_for(run, cfg))
    return run.table("model")


def test_dedup_and_annotate_twice_give_identical_tables(spark, ingested_run, student, tmp_path):
    from pipeline.rundir import RunDir
    from stagetools import config_for
    from stagetools import run as run_stage

    runs = []
    for name in ("first", "second"):
        dest = tmp_path / name
        shutil.copytree(ingested_run.root, dest)
        run = RunDir(dest)
        run_stage("dedup", spark, config_for(run))
        run_stage("annotate", spark, config_for(run, annotate__model=str(student)))
        runs.append(run)
    first, second = runs
    rows = {t: assert_same_table(second.table(t), first.table(t), t, file_level=True)
            for t in ("dedup", "dedup_articles", "annotations")}
    assert rows["dedup"] > 0 and rows["annotations"] > 0  # dedup_articles is empty on the sample (no reprints)
    # And the sidecars cover every paragraph exactly once.
    n_paragraphs = sum(rows for _, rows, _ in file_layout(ingested_run.table("paragraphs")))
    assert sum(rows for _, rows, _ in file_layout(first.table("annotations"))) == n_paragraphs
