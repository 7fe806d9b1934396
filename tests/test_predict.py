"""`pmc-enrich predict` on a held-out file: ids carried through, fixed score order, agreement."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from test_train import trained_run  # noqa: F401  (session fixture: fastText trained on the reference labels)


@pytest.fixture(scope="module")
def heldout_rows(trained_run, reference_labels):  # noqa: F811
    """A fifth of the reference rows (hash split), as an outside JSONL file would carry them. The
    final model is trained on all labels (its evaluation is the grouped CV in the report), so the
    agreement floors below are a sanity check of the scoring path, not a held-out measurement."""
    from classifiers.dataset import examples_from_table, read_table, stratified_split

    ex, _ = examples_from_table(read_table(reference_labels))
    _, held_idx = stratified_split(ex, 0.2, 0)
    rows = read_table(reference_labels).to_pylist()
    return [rows[i] for i in held_idx]


def _invoke(*args):
    from pipeline.cli import app
    res = CliRunner().invoke(app, ["predict", *map(str, args)])
    assert res.exit_code == 0, res.output
    return json.loads(res.output[res.output.index("{"):])


def test_predict_cli_jsonl_with_ids_and_context(trained_run, heldout_rows, tmp_path):  # noqa: F811
    run, _, _ = trained_run
    inp = tmp_path / "held.jsonl"
    inp.write_text("".join(json.dumps({"id": r["id"], "text": r["text"], "section": r["section"],
                                       "article_type": r["article_type"]}) + "\n" for r in heldout_rows))
    out = tmp_path / "pred.jsonl"
    summary = _invoke(inp, "--model", run.table("model"), "--out", out)
    assert summary["rows_out"] == len(heldout_rows) and summary["classifier_version"].startswith("fasttext-")
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["id"] for p in preds] == [r["id"] for r in heldout_rows]
    for p in preds:
        assert len(p["document_type_scores"]) == 4 and len(p["domain_scores"]) == 3
        assert sum(p["document_type_scores"]) == pytest.approx(1, abs=1e-4)
        order = ["clinical_case", "study", "review", "other"]
        assert p["document_type"] == order[int(np.argmax(p["document_type_scores"]))]
        assert 1.0 <= p["educational_score"] <= 5.0
    # Agreement with the LLM labels on this outside file (floors as in test_classifiers).
    acc = np.mean([p["document_type"] == r["document_type"] for p, r in zip(preds, heldout_rows)])
    dom = np.mean([p["domain"] == r["domain"] for p, r in zip(preds, heldout_rows)])
    mae = np.mean([abs(p["educational_score"] - r["educational_score"]) for p, r in zip(preds, heldout_rows)])
    assert acc >= 0.83 and dom >= 0.81 and mae <= 0.40


def test_predict_cli_parquet_without_context_or_ids_and_with_bad_rows(trained_run, heldout_rows, tmp_path):  # noqa: F811
    run, _, _ = trained_run
    texts = [r["text"] for r in heldout_rows[:40]] + [None, "  "]
    inp = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"text": texts}), inp)
    out = tmp_path / "pred.parquet"
    summary = _invoke(inp, "--model", run.table("model") / "fasttext", "--out", out, "--batch-size", 16)
    assert summary["rows_out"] == 40 and summary["skipped_no_text"] == 2  # counted, never silently lost
    table = pq.read_table(out)
    from schemas.annotations import PREDICTIONS
    assert table.schema.equals(PREDICTIONS, check_metadata=False)
    assert table["id"].null_count == 40
    assert table["educational_score"].type == pa.float32()


def test_predict_rejects_missing_text_column_and_unknown_student(trained_run, tmp_path):  # noqa: F811
    from pipeline.cli import app

    run, _, _ = trained_run
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": "no text column here"}\n')
    res = CliRunner().invoke(app, ["predict", str(bad), "--model", str(run.table("model")), "--out",
                                   str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "no `text` column" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["predict", str(bad), "--model", str(run.table("model")), "--student",
                                   "transformer", "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "no transformer student" in res.output
