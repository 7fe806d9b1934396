"""Ingest's Arrow plan: what the parse tasks hand the JVM is exactly what the pure parser yields.

The staged rows are compared with the rows ``_parse_records`` produces in plain Python for the
same unit (a bulk package streamed, shuffled and parsed in several tasks; loose files, one of them
malformed), and the driver-side report figures with what Spark counts in the written tables.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.ingest import (
    _paragraph_languages,
    _parse_records,
    _read_files,
    _stage_batch,
    _stage_batches,
    _stage_name,
    stage_unit,
)
from pipeline.config import PipelineConfig
from pipeline.config.ingest import language_rules
from pipeline.rundir import RunDir
from pipeline.sources import discover_inputs, read_unit
from schemas.ingest import STAGE


def _typed(value, type_):
    """A Python value as Arrow gives it back for ``type_`` (structs by field name, float32 rounded)."""
    if value is None:
        return None
    if pa.types.is_struct(type_):
        return {f.name: _typed(v, f.type) for f, v in zip(type_, value)}
    if pa.types.is_float32(type_):
        return float(np.float32(value))
    return value


def as_dicts(rows: list[tuple]) -> list[dict]:
    """Stage tuples as the dicts Arrow gives back."""
    return [{f.name: _typed(v, f.type) for v, f in zip(row, STAGE)} for row in rows]


def canonical(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def pure_rows(unit, cfg: PipelineConfig) -> list[tuple]:
    icfg = cfg.ingest
    records = read_unit(unit, icfg.max_member_bytes) if unit.kind == "package" else \
        _read_files(unit.files, icfg.max_member_bytes)
    return list(_parse_records(records, icfg.detect_language, language_rules(icfg)))


@pytest.fixture(scope="module")
def loose_dir(sample_dir: Path, tmp_path_factory) -> Path:
    """Real loose JATS (a Europe PMC bundle among them) plus one malformed and one empty file."""
    root = tmp_path_factory.mktemp("loose") / "files"
    shutil.copytree(sample_dir / "jats-other" / "europepmc-bundles", root / "bundles")
    shutil.copytree(sample_dir / "jats-other" / "elife", root / "elife")
    (root / "broken.xml").write_bytes(b"<article><front><article-meta>unclosed")
    (root / "empty.xml").write_bytes(b"")
    return root


# ------------------------------------------------------------------------ pure (no Spark)

def test_stage_batches_hold_exactly_the_parser_rows(loose_dir: Path):
    cfg = PipelineConfig(inputs=[str(loose_dir)])
    (unit,) = discover_inputs(cfg.inputs).units
    rows = pure_rows(unit, cfg)
    kinds = {r[0] for r in rows}
    assert {"D", "A", "P", "Q"} <= kinds  # parsed documents, paragraphs and quarantined ones
    batches = list(_stage_batches(iter(rows), batch_rows=7))
    assert all(b.schema == STAGE and 0 < b.num_rows <= 7 for b in batches)
    assert sum(b.num_rows for b in batches) == len(rows)
    got = pa.Table.from_batches(batches).to_pylist()
    assert got == as_dicts(rows)  # same rows, same order, every value typed as the schema says


def test_a_required_field_left_null_quarantines_its_document(loose_dir: Path, monkeypatch):
    """The per-row guard: a parsed article or paragraph without a non-nullable field costs its
    document (one ``parser_crash`` quarantine row naming the field), never the job."""
    import pipeline.jats as jats

    real = jats.parse_document

    def without(field: str, where: str):
        def parse(*args, **kwargs):
            parsed = real(*args, **kwargs)
            for item in parsed:
                rows = [item.article] if where == "article" else item.paragraphs
                for row in rows:
                    row[field] = None
            return parsed
        return parse

    source = str(sorted((loose_dir / "elife").glob("*.xml"))[0])
    cfg = PipelineConfig(inputs=[source])
    (unit,) = discover_inputs(cfg.inputs).units
    for field, where in (("license", "article"), ("text", "paragraph")):
        monkeypatch.setattr(jats, "parse_document", without(field, where))
        rows = pure_rows(unit, cfg)
        assert [r[0] for r in rows] == ["D", "Q"], rows
        assert rows[1][5][1] == "parser_crash" and f"{where} field {field!r} is null" in rows[1][5][2]
    monkeypatch.setattr(jats, "parse_document", real)
    assert {r[0] for r in pure_rows(unit, cfg)} == {"D", "A", "P"}


def test_empty_stage_batch_has_the_schema():
    batch = _stage_batch([])
    assert batch.num_rows == 0 and batch.schema == STAGE


# ------------------------------------------------------------------------------- Spark

@pytest.mark.parametrize("which", ["package", "files"])
def test_staged_unit_equals_the_pure_rows(spark, which: str, bulk_dir: Path, loose_dir: Path, tmp_path: Path):
    """Arrow batches through mapInArrow (and, for a package, the member shuffle over 3 tasks) stage
    exactly the rows the pure parser yields, quarantine rows included."""
    inputs = [str(bulk_dir / "oa_other")] if which == "package" else [str(loose_dir)]
    cfg = PipelineConfig(inputs=inputs, ingest={"parse_partitions": 3})
    (unit,) = discover_inputs(inputs).units
    assert unit.kind == which
    run = RunDir(tmp_path / "run")
    meta = stage_unit(spark, run, unit, cfg)
    assert meta["partitions"] >= 1 and run.is_complete(_stage_name(unit))
    staged = pq.read_table(run.table(_stage_name(unit))).to_pylist()
    expected = _stage_batch(pure_rows(unit, cfg)).to_pylist()
    assert len(staged) == len(expected) > 0
    assert canonical(staged) == canonical(expected)
    if which == "files":
        reasons = {r["quarantine"]["source"].rsplit("/", 1)[-1]: r["quarantine"]["reason"]
                   for r in staged if r["kind"] == "Q"}
        assert set(reasons) == {"broken.xml", "empty.xml"}


def test_paragraph_languages_count_the_written_table(spark, ingested_run: RunDir):
    from pyspark.sql import functions as F

    rows = spark.read.parquet(str(ingested_run.table("paragraphs"))).groupBy("language").agg(F.count("*").alias("n"))
    by_spark = sorted(((r["language"] or "unknown", r["n"]) for r in rows.collect()), key=lambda kv: (-kv[1], kv[0]))
    got = _paragraph_languages(ingested_run)
    assert list(got.items()) == by_spark[:20] and sum(got.values()) > 0
    report = json.loads(ingested_run.report("ingest").read_text())["figures"]
    assert report["paragraphs_by_language"] == got
