"""DuckDB catalog and `pmc-enrich query` on the hand-made run (known answers), including every
example query of docs/catalog.md, copies and moves of a run, comments, formats and non-runs."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.catalog import CATALOG_FILE, build_catalog, connect, query
from pipeline.catalog_comments import UNDESCRIBED
from pipeline.cli import app
from pipeline.errors import NotARunError, UserError
from pipeline.rundir import RunDir
from test_emit_fixtures import copy_run, emitted_tiny_run, make_tiny_run

DOC = Path(__file__).resolve().parents[1] / "docs" / "catalog.md"
ALL_OBJECTS = {"articles", "paragraphs", "quarantine", "superseded", "dedup", "dedup_articles", "sample", "labels",
               "annotations", "paragraph_facts", "variants", "variant_shards", "variant_rows"}


@pytest.fixture(scope="module")
def cataloged(spark, tmp_path_factory):
    run = copy_run(emitted_tiny_run(spark), tmp_path_factory.mktemp("catalog") / "run")
    build_catalog(run)
    return run


def test_views_over_every_table(cataloged):
    con = connect(cataloged)
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert ALL_OBJECTS <= names
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("articles", "paragraphs", "dedup", "annotations", "labels", "quarantine")}
    assert counts == {"articles": 7, "paragraphs": 17, "dedup": 17, "annotations": 17, "labels": 5, "quarantine": 1}
    # Every shard row is visible, and as many as the manifests say.
    shard_rows = con.execute("SELECT count(*) FROM variant_rows").fetchone()[0]
    assert shard_rows == con.execute("SELECT sum(rows) FROM variants").fetchone()[0] > 31
    assert con.execute("SELECT count(*) FROM paragraph_facts WHERE NOT is_duplicate").fetchone()[0] == 12
    assert con.execute("SELECT sum(rows) FROM variants WHERE variant = 'BE-All'").fetchone()[0] == 31
    con.close()


def test_paragraph_facts_has_text_and_every_sidecar(cataloged):
    columns, rows = query(cataloged, """
        SELECT paragraph_id, text, is_duplicate, dedup_match, reprint_of, in_sample, llm_document_type,
               llm_educational_score, document_type, educational_score, journal, commercial
        FROM paragraph_facts ORDER BY paragraph_id""")
    facts = {r[0]: dict(zip(columns, r)) for r in rows}
    assert len(facts) == 17 and all(f["text"] for f in facts.values())
    assert facts["PMC3:00000"]["text"].startswith("Le patient de l'article PMC3")
    assert sorted(p for p, f in facts.items() if f["in_sample"]) == ["PMC1:00000", "PMC2:00001", "PMC3:00000",
                                                                     "PMC6:00001"]
    # Labels: the 4 valid ones; PMC6:00000's label is invalid, so it has none.
    assert {p: f["llm_document_type"] for p, f in facts.items() if f["llm_document_type"]} == {
        "PMC1:00000": "clinical_case", "PMC2:00001": "study", "PMC3:00000": "review", "PMC6:00001": "other"}
    assert facts["PMC6:00000"]["llm_document_type"] is None and facts["PMC1:00000"]["llm_educational_score"] == 4
    assert {p for p, f in facts.items() if f["reprint_of"]} == {"PMC7:00000", "PMC7:00001", "PMC7:00002"}
    assert facts["PMC7:00000"]["reprint_of"] == "PMC1"
    assert facts["PMC5:00000"]["dedup_match"] == "exact" and facts["PMC5:00000"]["is_duplicate"] is True
    assert facts["PMC2:00002"]["document_type"] == "review" and facts["PMC2:00002"]["educational_score"] == 5.0


def test_every_view_and_column_has_a_comment(cataloged):
    con = connect(cataloged)
    views = con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()
    tables = con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall()
    assert {v for v, _ in views} | {t for t, _ in tables} >= ALL_OBJECTS | {"_catalog"}
    assert all(c and len(c) > 10 for _, c in views + tables), [n for n, c in views + tables if not c]
    columns = con.execute("SELECT table_name, column_name, comment FROM duckdb_columns() "
                          "WHERE NOT internal AND table_name NOT LIKE 'duckdb_%'").fetchall()
    con.close()
    assert len(columns) > 100
    missing = [(t, c) for t, c, comment in columns if not comment]
    undescribed = [(t, c) for t, c, comment in columns if comment and comment.startswith(UNDESCRIBED.split("{")[0])]
    assert not missing and not undescribed, (missing, undescribed)
    by_key = {(t, c): comment for t, c, comment in columns}
    assert "kept_paragraph_id" in by_key[("dedup", "is_duplicate")]
    assert by_key[("paragraph_facts", "text")].startswith("Paragraph text")


def doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_documented_queries_run_and_answer(cataloged):
    queries = doc_queries()
    assert len(queries) >= 7
    results = [query(cataloged, q) for q in queries]
    assert all(rows for _, rows in results), [q for q, (_, r) in zip(queries, results) if not r]
    columns, rows = results[0]  # clinical-case, score >= 4, commercial, by journal
    assert columns == ["journal", "paragraphs", "mean_score"]
    assert rows == [("BMC Case Reports", 1, 4.0)]  # PMC1:00000; PMC6 is non-commercial, PMC5/PMC7 copies
    top = results[-1][1][0]
    assert top[1] in ("PMC1", "PMC3", "PMC6") and top[2] == 10


def test_catalog_survives_copying_and_moving_the_run(cataloged, tmp_path, monkeypatch):
    original = tmp_path / "original"
    shutil.copytree(cataloged.root, original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    # The copy gets different articles: its catalog must read them, not the original's.
    articles = next((copy / "articles").glob("*.parquet"))
    table = pq.read_table(articles)
    pq.write_table(table.slice(0, 3), articles)
    built = (copy / CATALOG_FILE).stat().st_mtime
    assert query(RunDir(copy), "SELECT count(*) FROM articles")[1] == [(3,)]
    assert query(RunDir(original), "SELECT count(*) FROM articles")[1] == [(7,)]
    # Moved away from where its catalog was built: still answers, without a rebuild.
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    original.rename(moved)
    assert query(RunDir(moved), "SELECT count(*) FROM paragraph_facts")[1] == [(17,)]
    assert query(RunDir(moved), "SELECT count(*) FROM variant_rows")[1] == \
        query(RunDir(moved), "SELECT sum(rows) FROM variants")[1]
    assert (copy / CATALOG_FILE).stat().st_mtime == built
    # The DuckDB shell way: from inside the run folder, plain duckdb resolves the relative paths...
    code = "import duckdb; print(duckdb.connect('catalog.duckdb', read_only=True).execute('SELECT count(*) FROM articles').fetchone()[0])"
    inside = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True, text=True)
    assert inside.stdout.strip() == "3", inside.stderr
    # ...and from anywhere else a view fails loudly instead of reading some other run's files.
    con = duckdb.connect(str(copy / CATALOG_FILE), read_only=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(duckdb.IOException, match="No files found"):
        con.execute("SELECT count(*) FROM articles").fetchall()
    con.close()


def test_stale_catalog_is_answered_from_fresh_views_and_skips_incomplete_tables(cataloged, tmp_path):
    run_root = tmp_path / "run"
    shutil.copytree(cataloged.root, run_root)
    run = RunDir(run_root)
    # An incomplete table gets no view; paragraph_facts falls back to NULL annotations.
    (run_root / "annotations" / "_COMPLETE").unlink()
    time.sleep(0.01)
    os.utime(run_root / "paragraphs" / "_COMPLETE")  # a table newer than the catalog → fresh views on open
    assert query(run, "SELECT count(*) FROM paragraph_facts WHERE document_type IS NULL")[1] == [(17,)]
    names = json.loads(query(run, "SELECT objects FROM _catalog")[1][0][0])
    assert "annotations" not in names and "paragraph_facts" in names


def _add_table(run: RunDir, name: str, table: pa.Table) -> None:
    folder = run.table(name)
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    (folder / "_COMPLETE").write_text("{}")


def test_contamination_and_later_sidecars_join_paragraph_facts_one_row_per_paragraph(cataloged, tmp_path):
    run = copy_run(cataloged, tmp_path / "run")
    # contamination/: one row per (paragraph, benchmark item); PMC1:00000 overlaps two items.
    _add_table(run, "contamination", pa.table({
        "paragraph_id": ["PMC1:00000", "PMC1:00000", "PMC2:00000"], "benchmark": ["medqa", "pubmedqa", "medqa"],
        "item_id": ["q1", "q7", "q2"], "matched_ngrams": pa.array([9, 4, 12], pa.int32()),
        "overlap": [0.9, 0.4, 0.6]}))
    # Sidecars this code does not know: one keyed once per paragraph, one with several rows per paragraph.
    _add_table(run, "readability", pa.table({"paragraph_id": ["PMC1:00000", "PMC3:00000"], "grade": [12.5, 9.0]}))
    _add_table(run, "topics", pa.table({"paragraph_id": ["PMC1:00000", "PMC1:00000"], "topic": ["fever", "cough"]}))
    assert query(run, "SELECT count(*) FROM contamination")[1] == [(3,)]
    assert query(run, "SELECT count(*) FROM paragraph_facts")[1] == [(17,)]  # still one row per paragraph
    rows = query(run, "SELECT paragraph_id, contamination_benchmarks, contamination_max_overlap, readability_grade, "
                      "topics_rows, topics FROM paragraph_facts WHERE is_contaminated ORDER BY 1")[1]
    assert rows == [("PMC1:00000", ["medqa", "pubmedqa"], 0.9, 12.5, 2, [{"topic": "cough"}, {"topic": "fever"}]),
                    ("PMC2:00000", ["medqa"], 0.6, None, 0, None)]
    comments = dict(query(run, "SELECT column_name, comment FROM duckdb_columns() "
                               "WHERE table_name = 'paragraph_facts'")[1])
    assert comments["contamination_max_overlap"].startswith("Largest overlap")
    assert comments["topics_rows"].startswith("Rows of the topics/ sidecar")
    assert comments["topics"].startswith("The rows of the topics/ sidecar")
    assert comments["readability_grade"].startswith("readability:")


def test_query_command_formats(cataloged, tmp_path):
    sql = "SELECT split, sum(rows) AS rows FROM variants WHERE variant = 'BE-All' GROUP BY 1 ORDER BY 1"
    result = CliRunner().invoke(app, ["query", str(cataloged.root), sql])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["split", "|", "rows"]
    assert re.match(r"commercial\s+\|\s+20$", lines[2]) and re.match(r"noncommercial\s+\|\s+11$", lines[3])
    assert lines[-1] == "(2 rows)"
    as_json = CliRunner().invoke(app, ["query", str(cataloged.root), "--format", "json",
                                       "SELECT count(*) AS n FROM articles"])
    assert json.loads(as_json.output) == [{"n": 7}]
    as_csv = CliRunner().invoke(app, ["query", str(cataloged.root), "-f", "csv", sql])
    assert list(csv.reader(io.StringIO(as_csv.output))) == [["split", "rows"], ["commercial", "20"],
                                                            ["noncommercial", "11"]]
    out = tmp_path / "out" / "facts.parquet"
    result = CliRunner().invoke(app, ["query", str(cataloged.root), "--format", "parquet", "--out", str(out),
                                      "SELECT paragraph_id, text, section_path, educational_score FROM paragraph_facts"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 17 and table.schema.field("section_path").type == pa.list_(pa.string())
    saved = tmp_path / "sizes.csv"
    result = CliRunner().invoke(app, ["query", str(cataloged.root), "-f", "csv", "-o", str(saved), sql])
    assert result.exit_code == 0 and saved.read_text().splitlines()[1] == "commercial,20"


def test_query_mistakes_are_user_errors(cataloged, tmp_path):
    # The CLI's error boundary: `error: ...` (+ hint), exit 2, no traceback.
    bad = CliRunner().invoke(app, ["query", str(cataloged.root), "SELECT * FROM nope"])
    assert bad.exit_code == 2 and "error: query failed" in bad.output and "nope" in bad.output
    no_out = CliRunner().invoke(app, ["query", str(cataloged.root), "-f", "parquet", "SELECT 1"])
    assert no_out.exit_code == 2 and "--out" in no_out.output
    wrong = CliRunner().invoke(app, ["query", str(cataloged.root), "-f", "xml", "SELECT 1"])
    assert wrong.exit_code == 2 and "Traceback" not in wrong.output
    with pytest.raises(UserError, match="query failed"):
        query(cataloged, "SELECT * FROM nope")


def test_query_refuses_a_folder_that_is_not_a_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["query", str(empty), "SELECT 1"])
    assert result.exit_code == 2 and "not a pmc-enrich run" in result.output
    assert list(empty.iterdir()) == []  # no catalog created in it
    with pytest.raises(NotARunError):
        build_catalog(RunDir(empty))


def test_catalog_of_a_run_without_variants(tmp_path):
    run = make_tiny_run(tmp_path / "run")
    names = build_catalog(run)["objects"]
    assert "variant_rows" not in names and "paragraph_facts" in names
    assert query(run, "SELECT count(*) FROM variants")[1] == [(0,)]


def test_query_on_a_read_only_run_uses_views_in_memory(tmp_path, monkeypatch):
    import pipeline.catalog as catalog

    run = make_tiny_run(tmp_path / "run")

    def unwritable(*args, **kwargs):  # what mkstemp raises in a folder we may not write to
        raise PermissionError(13, "Permission denied", str(run.root))

    # (Tests run as root here, so a chmod-ed folder would still be writable: refuse the write instead.)
    monkeypatch.setattr(catalog.tempfile, "mkstemp", unwritable)
    assert query(run, "SELECT count(*) FROM paragraph_facts WHERE NOT is_duplicate")[1] == [(12,)]
    assert not (run.root / CATALOG_FILE).exists()
