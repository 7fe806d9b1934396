"""`--backend import`: the reference labels (JSONL and Parquet) validated by the label schema,
bad rows kept as invalid with their reason, texts mapped to run paragraph_ids by hash."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config.label import LabelConfig
from pipeline.labeling.core import text_hash
from pipeline.labeling.runner import label_run
from pipeline.rundir import RunDir, write_parquet_atomic
from schemas.labels import LABEL_FIELDS, LABELS


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_import_reference_labels_through_the_cli(tmp_path, reference_labels):
    ref = read_jsonl(reference_labels)
    run = RunDir(tmp_path / "run")
    # a paragraphs table holding 100 of the reference texts (whitespace changed: still matched)
    tmp = run.tmp_path("paragraphs")
    chosen = ref[:100]
    write_parquet_atomic(pa.table({"paragraph_id": [f"PMC1:{i:05d}" for i in range(100)],
                                   "text": ["  " + r["text"].replace(" ", "\n", 1) for r in chosen]}),
                         tmp / "part-00000.parquet")
    run.publish(tmp, "paragraphs", {})

    result = CliRunner().invoke(app, ["label", str(run.root), "--backend", "import", "--path", str(reference_labels)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(run.table("labels"))
    assert table.schema.names == LABELS.names
    rows = table.to_pylist()
    assert len(rows) == 3000 and all(r["status"] == "ok" for r in rows)
    for got, want in zip(rows, ref):
        assert got["text"] == want["text"] and got["text_hash"] == text_hash(want["text"])
        assert {k: got[k] for k in LABEL_FIELDS} == {k: want[k] for k in LABEL_FIELDS}
        assert got["labeller"] == "import:reference-labels.jsonl" and got["raw_response"] is None
        assert got["source"] == want["source"]  # the article, for grouped CV of unmatched rows
    # paragraph ids by text hash: the 100 present texts (and their duplicates elsewhere in the file)
    texts_in_run = {r["text"] for r in chosen}
    mapped = [r for r in rows if r["paragraph_id"]]
    assert len(mapped) == sum(1 for r in ref if r["text"] in texts_in_run)
    assert rows[0]["paragraph_id"] == "PMC1:00000" and rows[2999]["paragraph_id"] is None
    report = json.loads(run.report("label").read_text())["figures"]  # the stage runner's report
    assert report["ok"] == 3000 and report["matched_paragraph_ids"] == len(mapped)
    counts = Counter(r["document_type"] for r in ref)
    assert report["distributions"]["document_type"] == {k: counts[k] for k in report["distributions"]["document_type"]}
    assert report["distributions"]["educational_score"]["5"] == 10  # the README's count


def test_import_rejects_bad_rows(tmp_path, reference_labels):
    good = read_jsonl(reference_labels)[:5]
    bad = [
        {**good[0], "document_type": "case_report"},  # outside the set
        {**good[1], "educational_score": 6},
        {**good[2], "educational_score": "3"},  # a string is not coerced
        {**good[3], "language": "eng"},
        {k: v for k, v in good[4].items() if k != "domain"},
        {"id": "x", "document_type": "study", "domain": "other", "educational_score": 2, "language": "en"},  # no text
    ]
    path = tmp_path / "labels.jsonl"
    lines = [json.dumps(r) for r in good + bad] + ["{not json"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = RunDir(tmp_path / "run")
    report = label_run(run, LabelConfig(backend="import", path=str(path), model="big-llm"), progress=False)
    rows = pq.read_table(run.table("labels")).to_pylist()
    assert len(rows) == 12  # nothing silently dropped
    assert [r["status"] for r in rows] == ["ok"] * 5 + ["invalid"] * 7
    assert [r["invalid_reason"] for r in rows[5:]] == ["invalid_value"] * 4 + ["missing_field", "missing_text", "bad_json"]
    assert all(r["document_type"] is None and r["raw_response"] for r in rows[5:])
    assert json.loads(rows[5]["raw_response"])["document_type"] == "case_report"
    assert rows[11]["raw_response"] == "{not json"
    assert all(r["labeller"] == "big-llm" for r in rows)
    assert report["invalid_rows_by_reason"] == {"invalid_value": 4, "missing_field": 1, "missing_text": 1, "bad_json": 1}


def test_import_parquet(tmp_path, reference_labels):
    ref = read_jsonl(reference_labels)[:200]
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pylist(ref), path)
    run = RunDir(tmp_path / "run")
    report = label_run(run, LabelConfig(backend="import", path=str(path)), progress=False)
    assert report["rows"] == 200 and report["ok"] == 200
    # a rerun (the stage runner decides when one is due) gives the same table and figures
    first = pq.read_table(run.table("labels")).drop(["created_at"])
    again = label_run(run, LabelConfig(backend="import", path=str(path)), progress=False)
    assert {k: v for k, v in again.items() if k != "elapsed_s"} == {k: v for k, v in report.items() if k != "elapsed_s"}
    assert pq.read_table(run.table("labels")).drop(["created_at"]).equals(first)
