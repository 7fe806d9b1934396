"""`annotate` (Spark) on a copy of the ingested sample: one valid row per paragraph, resumable."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from test_train import test_config, trained_run  # noqa: F401  (session fixture)


def _annotated(spark, run_copy, trained_run, **kw):  # noqa: F811
    from jobs.annotate import run_annotate

    model_run, _, _ = trained_run
    shutil.copytree(model_run.table("model"), run_copy.table("model"))
    return run_annotate(spark, run_copy, test_config(), **kw)


def test_annotate_every_paragraph_once_valid_resumable_deterministic(spark, run_copy, trained_run):  # noqa: F811
    from jobs.annotate import run_annotate
    from schemas.annotations import ANNOTATIONS
    from schemas.labels import DOCUMENT_TYPES, DOMAINS

    report = _annotated(spark, run_copy, trained_run)
    paras = pq.read_table(run_copy.table("paragraphs"), columns=["paragraph_id"])
    ann = pq.read_table(run_copy.table("annotations"))
    assert run_copy.is_complete("annotations") and report["rows"] == paras.num_rows > 100
    ids = ann["paragraph_id"].to_pylist()
    assert len(ids) == len(set(ids)) and set(ids) == set(paras["paragraph_id"].to_pylist())
    assert ann.schema.names == ANNOTATIONS.names
    assert set(ann["document_type"].to_pylist()) <= set(DOCUMENT_TYPES)
    assert set(ann["domain"].to_pylist()) <= set(DOMAINS)
    dts = np.array(ann["document_type_scores"].to_pylist())
    assert dts.shape == (len(ids), 4) and np.allclose(dts.sum(axis=1), 1, atol=1e-4)
    assert [DOCUMENT_TYPES[i] for i in dts.argmax(axis=1)] == ann["document_type"].to_pylist()
    score = ann["educational_score"].to_numpy()
    assert np.all((score >= 1) & (score <= 5))
    version = run_copy.marker("annotations")["classifier_version"]
    assert version.startswith("fasttext-") and set(ann["classifier_version"].to_pylist()) == {version}
    counts = report["counts"]["document_type"]
    assert sum(counts.values()) == len(ids)
    assert max(counts, key=counts.get) == "study"  # the sample is mostly research articles

    # Rerun: complete for this classifier_version → skipped; --overwrite → the same rows again.
    assert run_annotate(spark, run_copy, test_config())["skipped"] is True
    assert run_annotate(spark, run_copy, test_config(), overwrite=True)["skipped"] is False
    again = pq.read_table(run_copy.table("annotations"))
    assert ann.sort_by("paragraph_id").equals(again.sort_by("paragraph_id"))
    assert not [p for p in run_copy.root.iterdir() if p.name.startswith((".tmp-", ".trash-"))]


def test_annotate_without_model_or_paragraphs_fails_clearly(spark, tmp_path, run_copy):
    from jobs.annotate import run_annotate
    from pipeline.rundir import RunDir

    with pytest.raises(FileNotFoundError, match="train"):
        run_annotate(spark, run_copy, test_config())
    with pytest.raises(FileNotFoundError, match="ingest"):
        run_annotate(spark, RunDir(tmp_path / "empty"), test_config())
