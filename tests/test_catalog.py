"""DuckDB catalog and `pmc-enrich query` on the hand-made run (known answers), including every
example query of docs/catalog.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.catalog import CATALOG_FILE, build_catalog, query
from pipeline.cli import app
from test_emit_fixtures import copy_run, emitted_tiny_run

DOC = Path(__file__).resolve().parents[1] / "docs" / "catalog.md"


@pytest.fixture(scope="module")
def cataloged(spark, tmp_path_factory):
    run = copy_run(emitted_tiny_run(spark), tmp_path_factory.mktemp("catalog") / "run")
    build_catalog(run)
    return run


def test_views_over_every_table(cataloged):
    con = duckdb.connect(str(cataloged.root / CATALOG_FILE), read_only=True)
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"articles", "paragraphs", "quarantine", "superseded", "dedup", "dedup_articles", "sample", "labels",
            "annotations", "paragraph_facts", "variants", "variant_shards", "variant_rows"} <= names
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("articles", "paragraphs", "dedup", "annotations", "labels", "quarantine", "variant_rows")}
    assert counts == {"articles": 7, "paragraphs": 17, "dedup": 17, "annotations": 17, "labels": 5,
                      "quarantine": 1, "variant_rows": 4 + 22 + 31 + 13}
    assert con.execute("SELECT count(*) FROM paragraph_facts WHERE NOT is_duplicate").fetchone()[0] == 12
    assert con.execute("SELECT sum(rows) FROM variants WHERE variant = 'BE-All'").fetchone()[0] == 31
    con.close()


def doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_documented_queries_run_and_answer(cataloged):
    queries = doc_queries()
    assert len(queries) >= 6
    results = [query(cataloged, q) for q in queries]
    assert all(rows for _, rows in results), [q for q, (_, r) in zip(queries, results) if not r]
    columns, rows = results[0]  # clinical-case, score >= 4, commercial, by journal
    assert columns == ["journal", "paragraphs", "mean_score"]
    assert rows == [("BMC Case Reports", 1, 4.0)]  # PMC1:00000; PMC6 is non-commercial, PMC5/PMC7 copies
    top = results[-1][1][0]
    assert top[1] in ("PMC1", "PMC3", "PMC6") and top[2] == 10


def test_query_command_prints_a_table(cataloged):
    result = CliRunner().invoke(app, ["query", str(cataloged.root),
                                      "SELECT split, sum(rows) AS rows FROM variants WHERE variant = 'BE-All' GROUP BY 1 ORDER BY 1"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["split", "|", "rows"]
    assert re.match(r"commercial\s+\|\s+20$", lines[2]) and re.match(r"noncommercial\s+\|\s+11$", lines[3])
    assert lines[-1] == "(2 rows)"
    as_json = CliRunner().invoke(app, ["query", str(cataloged.root), "--format", "json",
                                       "SELECT count(*) AS n FROM articles"])
    assert json.loads(as_json.output) == [{"n": 7}]
    bad = CliRunner().invoke(app, ["query", str(cataloged.root), "SELECT * FROM nope"])
    assert bad.exit_code == 1 and "nope" in bad.output


def test_catalog_rebuilt_when_stale_and_skips_incomplete_tables(cataloged, tmp_path):
    run_root = tmp_path / "moved"
    shutil.copytree(cataloged.root, run_root)
    from pipeline.rundir import RunDir

    moved = RunDir(run_root)
    # Built for the old location: query rebuilds it against the new one.
    assert query(moved, "SELECT count(*) FROM articles")[1] == [(7,)]
    con = duckdb.connect(str(run_root / CATALOG_FILE), read_only=True)
    assert con.execute("SELECT run_root FROM _catalog").fetchone()[0] == str(run_root)
    con.close()
    # An incomplete table gets no view; paragraph_facts falls back to NULL annotations.
    (run_root / "annotations" / "_COMPLETE").unlink()
    time.sleep(0.01)
    os.utime(run_root / "paragraphs" / "_COMPLETE")  # a table newer than the catalog → rebuild
    names = build_catalog(moved)["objects"]
    assert "annotations" not in names and "paragraph_facts" in names
    assert query(moved, "SELECT count(*) FROM paragraph_facts WHERE document_type IS NULL")[1] == [(17,)]
