"""`annotate` (Spark) on a copy of the ingested sample: one valid row per paragraph, resumable."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from test_train import test_config, trained_run  # noqa: F401  (session fixture)


def _write_run_labels(run, reference_labels) -> int:
    """A real labels/ table for the run: the reference labels whose text is one of the run's
    paragraphs (whitespace-normalised match), keyed by paragraph_id as the label stage writes it."""
    import json
    from datetime import datetime, timezone

    import pyarrow as pa

    from classifiers.features import text_hash
    from pipeline.rundir import write_parquet_atomic
    from schemas.labels import LABELS

    paras = pq.read_table(run.table("paragraphs"), columns=["paragraph_id", "text"]).to_pydict()
    by_text = {" ".join(t.split()): (pid, t) for pid, t in zip(paras["paragraph_id"], paras["text"])}
    rows = []
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for line in reference_labels.read_text().splitlines():
        r = json.loads(line)
        hit = by_text.get(" ".join(r["text"].split()))
        if hit:
            rows.append({"paragraph_id": hit[0], "text": hit[1], "text_hash": text_hash(hit[1]),
                         "document_type": r["document_type"], "domain": r["domain"],
                         "educational_score": r["educational_score"], "language": r["language"],
                         "labeller": "reference-llm", "prompt_version": "rubric-v1", "created_at": now,
                         "status": "ok", "invalid_reason": None, "raw_response": None})
    rows.append({**rows[0], "paragraph_id": None, "status": "invalid", "document_type": None,
                 "invalid_reason": "bad_json", "raw_response": "{"})
    table = pa.Table.from_pylist(rows, schema=LABELS)
    tmp = run.tmp_path("labels")
    write_parquet_atomic(table, tmp / "part-0.parquet")
    run.publish(tmp, "labels", {"rows": len(rows)})
    return len(rows) - 1


def _annotated(spark, run_copy, trained_run, **kw):  # noqa: F811
    from stagetools import config_for, figures

    model_run, _, _ = trained_run
    shutil.copytree(model_run.table("model"), run_copy.table("model"))
    return figures("annotate", spark, config_for(run_copy, test_config()), **kw)


def test_train_on_run_labels_uses_run_context_then_annotate(spark, run_copy, reference_labels):
    """labels/ from the run (status ok rows) + section path, zone and article type joined from the
    run's tables → fastText with all three context features → annotate feeds it those columns."""
    from jobs.train import train_students
    from stagetools import config_for, figures

    n = _write_run_labels(run_copy, reference_labels)
    assert n >= 100
    report = train_students(None, run_copy, test_config(**{"train.fasttext.epoch": 10}), student="fasttext")
    card = (run_copy.table("model") / "model_card.json").read_text()
    assert report["n_used"] == n and report["skipped_rows"] == {"status_not_ok": 1}
    assert report["labeller"] == ["reference-llm"] and report["prompt_version"] == ["rubric-v1"]
    assert report["students"]["fasttext"]["features"]["context"] == ["section", "zone", "article_type"]
    assert '"zone"' in card
    # Grouped CV by the run's articles (article_id joined from paragraphs/), collections from their sources.
    assert report["group_column"] == "source+article_id" and report["evaluation"]["groups"] == "article"
    by = report["students"]["fasttext"]["by_collection"]
    assert sum(v["n"] for v in by.values()) == n and set(by) <= {"pmc_bulk", "elife", "scielo", "europe_pmc", "other"}
    ann = figures("annotate", spark, config_for(run_copy, test_config()))
    assert ann["context_features"] == ["article_type", "section", "zone"]
    assert ann["rows"] == pq.read_table(run_copy.table("annotations"), columns=["paragraph_id"]).num_rows
    assert sum(ann["counts"]["domain"].values()) == ann["paragraphs"]


def test_annotate_every_paragraph_once_valid_resumable_deterministic(spark, run_copy, trained_run):  # noqa: F811
    from schemas.annotations import ANNOTATIONS
    from stagetools import config_for
    from stagetools import run as run_stage
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
    assert run_stage("annotate", spark, config_for(run_copy, test_config()))["skipped"] is True
    assert run_stage("annotate", spark, config_for(run_copy, test_config()), overwrite=True)["skipped"] is False
    again = pq.read_table(run_copy.table("annotations"))
    assert ann.sort_by("paragraph_id").equals(again.sort_by("paragraph_id"))
    assert not [p for p in run_copy.root.iterdir() if p.name.startswith((".tmp-", ".trash-"))]


def test_annotate_without_model_or_paragraphs_fails_clearly(spark, tmp_path, run_copy):
    from pipeline.errors import MissingStageError, UserError
    from pipeline.rundir import RunDir
    from stagetools import config_for
    from stagetools import run as run_stage

    with pytest.raises(MissingStageError, match="model/ is missing") as err:
        run_stage("annotate", spark, config_for(run_copy, test_config()))
    assert "pmc-enrich train" in err.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError) as err:
        run_stage("annotate", spark, config_for(RunDir(tmp_path / "empty"), test_config()))
    assert "ingest" in err.value.hint
