"""The Spark emit job on a hand-made run whose recipe outcomes are known exactly
(tests/test_emit_fixtures.py): counts, upsampling factors, duplicates, licence splits, shards,
manifest checksums, determinism, resumability, readers (pyarrow, DuckDB, datasets if installed)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from jobs.emit import EmitError, pending_recipes, emit_recipes
from pipeline.config import PipelineConfig
from pipeline.rundir import RunDir
from schemas.variants import SHARD_ROWS
from test_emit_fixtures import (_SHARED, PARAGRAPH_SPECS, SHARED_RECIPES, emitted_tiny_run, make_tiny_run,
                                paragraph_text, small_shards_config)

RECIPES = SHARED_RECIPES
small_shards = small_shards_config


@pytest.fixture(scope="module")
def emitted(spark):
    run = emitted_tiny_run(spark)
    return run, json.loads(run.report("emit").read_text())["figures"], _SHARED["recipe_file"]


def rows(run: RunDir, variant: str, split: str | None = None) -> list[dict]:
    splits = [split] if split else ["commercial", "noncommercial"]
    out = []
    for s in splits:
        for path in sorted((run.table(f"variants/{variant}") / s).glob("*.parquet")):
            out += pq.read_table(path).to_pylist()
    return out


def manifest(run: RunDir, variant: str) -> dict:
    return json.loads((run.table(f"variants/{variant}") / "manifest.json").read_text())


def test_base_counts_duplicates_removed_first(emitted):
    run, report, _ = emitted
    base = rows(run, "BE-Base")
    # PMC4 retracted; PMC5 all duplicates; PMC7 a flagged reprint (dedup_articles); PMC1:00003 duplicate.
    assert sorted(r["article_id"] for r in base) == ["PMC1", "PMC2", "PMC3", "PMC6"]
    pmc1 = next(r for r in base if r["article_id"] == "PMC1")
    assert pmc1["text"] == "\n\n".join(paragraph_text("PMC1", o, "en") for o in range(3))
    assert pmc1["n_paragraphs"] == 3 and pmc1["document_types"] == ["clinical_case", "study"]
    assert pmc1["educational_score"] == pytest.approx(3.0) and pmc1["license"] == "CC BY"
    totals = manifest(run, "BE-Base")["totals"]
    assert (totals["articles"], totals["paragraphs"], totals["rows"]) == (4, 10, 4)
    assert report["variants"]["BE-Base"]["skipped"] is False


def test_duplicates_never_reach_any_variant(emitted):
    run, _, _ = emitted
    dup_texts = {paragraph_text(a, o, lang) for a, o, _, lang, *_, dup in PARAGRAPH_SPECS if dup}
    for variant in ("BE-Base", "BE-ClinicalCase", "BE-All", "Clinical-Paragraphs"):
        for r in rows(run, variant):
            assert not any(t in r["text"] for t in dup_texts), (variant, r["id"])
            assert r["article_id"] not in ("PMC5", "PMC7")


def test_upsampling_factors_and_copies(emitted):
    run, _, _ = emitted
    cc = Counter(r["article_id"] for r in rows(run, "BE-ClinicalCase"))
    assert cc == {"PMC1": 10, "PMC6": 10, "PMC2": 1, "PMC3": 1}
    copies = sorted(r["copy_index"] for r in rows(run, "BE-ClinicalCase") if r["article_id"] == "PMC1")
    assert copies == list(range(10))
    every = rows(run, "BE-All")
    assert Counter(r["article_id"] for r in every) == {"PMC1": 10, "PMC3": 10, "PMC6": 10, "PMC2": 1}
    assert len({r["id"] for r in every}) == len(every) == 31
    pmc1 = next(r for r in every if r["article_id"] == "PMC1")
    # score >= 3 keeps PMC1:00000 (4) and :00001 (3); prefix then text
    assert pmc1["text"] == ("<|meta|> type: clinical_case | domain: clinical | educational: 3.5 | lang: en <|/meta|>\n"
                            + paragraph_text("PMC1", 0, "en") + "\n\n" + paragraph_text("PMC1", 1, "en"))
    assert pmc1["upsample_rules"] == ["clinical", "clinical_case"]
    m = manifest(run, "BE-All")
    assert m["totals"]["unique_rows"] == 4 and m["totals"]["rows"] == 31 and m["totals"]["paragraphs"] == 6


def test_user_paragraph_recipe(emitted):
    run, _, recipe_file = emitted
    got = rows(run, "Clinical-Paragraphs")
    # domains clinical/biomedical: PMC1 0-2, PMC2 0-2, PMC3 0-1 (x3 French), PMC6 0
    assert Counter(r["paragraph_id"] for r in got) == {
        "PMC1:00000": 1, "PMC1:00001": 1, "PMC1:00002": 1, "PMC2:00000": 1, "PMC2:00001": 1, "PMC2:00002": 1,
        "PMC3:00000": 3, "PMC3:00001": 3, "PMC6:00000": 1}
    assert next(r for r in got if r["paragraph_id"] == "PMC2:00002")["text"].startswith("[review] Paragraph 2")
    assert manifest(run, "Clinical-Paragraphs")["recipe_source"] == str(recipe_file)


def test_splits_never_mix(emitted):
    run, _, _ = emitted
    for variant in ("BE-Base", "BE-All"):
        com, non = rows(run, variant, "commercial"), rows(run, variant, "noncommercial")
        assert com and non
        assert all(r["commercial"] for r in com) and not any(r["commercial"] for r in non)
        assert {r["license"] for r in com} == {"CC BY"}
        assert {r["license"] for r in non} == {"CC BY-NC", "CC BY-NC-ND"}
        assert not {r["article_id"] for r in com} & {r["article_id"] for r in non}


def test_manifest_checksums_sizes_and_versions(emitted):
    run, _, _ = emitted
    m = manifest(run, "BE-All")
    variant_dir = run.table("variants/BE-All")
    n_files = 0
    for split, info in m["splits"].items():
        assert sum(s["rows"] for s in info["shards"]) == info["rows"]
        assert sum(s["bytes"] for s in info["shards"]) == info["bytes"]
        files = sorted(p.name for p in (variant_dir / split).glob("*.parquet"))
        assert files == sorted(Path(s["path"]).name for s in info["shards"])
        for shard in info["shards"]:
            data = (variant_dir / shard["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == shard["sha256"] and len(data) == shard["bytes"]
            table = pq.read_table(variant_dir / shard["path"])
            assert table.schema.equals(SHARD_ROWS) and table.num_rows == shard["rows"]
            assert sum(table["n_tokens"].to_pylist()) == shard["tokens"]
            assert pq.ParquetFile(variant_dir / shard["path"]).metadata.row_group(0).column(0).compression == "ZSTD"
            n_files += 1
    assert n_files > 2  # 1 KiB target: several shards
    assert m["totals"]["tokens"] == sum(r["n_tokens"] for r in rows(run, "BE-All"))
    assert "MiniLM" in m["tokenizer"] or "regex" in m["tokenizer"]
    assert m["labellers"] == ["import:reference-labels.jsonl"] and m["prompt_versions"] == ["v1"]
    assert m["classifier_versions"] == ["fasttext-test-1"]
    assert m["model_card"]["students"]["fasttext"]["metrics"]["domain"]["macro_f1"] == 0.82
    assert m["recipe"]["filter"]["min_educational_score"] == 3 and m["source_run"] == str(run.root)


def test_readable_by_duckdb_pyarrow_and_datasets(emitted, tmp_path, monkeypatch):
    run, _, _ = emitted
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # datasets' cache: keep it out of ~
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = run.table("variants/BE-All/commercial")
    n = duckdb.connect().execute(f"SELECT count(*), count(DISTINCT id) FROM read_parquet('{folder}/*.parquet')").fetchone()
    assert n == (manifest(run, "BE-All")["splits"]["commercial"]["rows"],) * 2
    assert pq.read_table(folder).num_rows == n[0]  # pyarrow dataset over the folder
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files=str(folder / "*.parquet"), split="train")
    assert ds.num_rows == n[0] and "text" in ds.column_names


def test_rows_are_shuffled(emitted):
    run, _, _ = emitted
    order = [r["article_id"] for r in rows(run, "BE-All", "commercial")]
    runs = sum(1 for a, b in zip(order, order[1:]) if a != b)
    assert runs > 3  # 10 PMC1 + 10 PMC3 copies interleaved, not two blocks


def test_deterministic_and_seeded(emitted, spark, tmp_path):
    run, _, _ = emitted
    shas = lambda r: [s["sha256"] for sp in manifest(r, "BE-All")["splits"].values() for s in sp["shards"]]
    again = make_tiny_run(tmp_path / "again")
    emit_recipes(spark, again, small_shards(), recipes=["BE-All"])
    assert shas(again) == shas(run)
    other = make_tiny_run(tmp_path / "other")
    emit_recipes(spark, other, small_shards(seed=7), recipes=["BE-All"])
    assert shas(other) != shas(run)
    assert sorted(r["id"] for r in rows(other, "BE-All")) == sorted(r["id"] for r in rows(run, "BE-All"))


def test_rerun_skips_and_resumes_after_a_kill(emitted, spark, tmp_path):
    run, _, _ = emitted
    copy = RunDir(tmp_path / "run")
    shutil.copytree(run.root, copy.root)
    cfg = small_shards()
    assert pending_recipes(copy, cfg, RECIPES) == []
    report = emit_recipes(spark, copy, cfg, recipes=RECIPES)
    assert all(v["skipped"] for v in report["variants"].values())
    # A killed emit: a half-written temp folder and a variant without its marker.
    (copy.root / ".tmp-variants_BE-Base-deadbeef" / "commercial").mkdir(parents=True)
    (copy.table("variants/BE-ClinicalCase") / "_COMPLETE").unlink()
    assert pending_recipes(copy, cfg, RECIPES) == ["BE-ClinicalCase"]
    report = emit_recipes(spark, copy, cfg, recipes=RECIPES)
    assert [k for k, v in report["variants"].items() if not v["skipped"]] == ["BE-ClinicalCase"]
    assert not list(copy.root.glob(".tmp-*"))
    assert manifest(copy, "BE-ClinicalCase")["totals"]["rows"] == 22
    # Changing a setting that changes the shards, or a re-run input stage, re-emits.
    assert pending_recipes(copy, small_shards(seed=3), ["BE-Base"]) == ["BE-Base"]
    (copy.table("annotations") / "_COMPLETE").write_text(json.dumps({"rows": 17, "classifier": "new"}))
    assert pending_recipes(copy, cfg, RECIPES) == RECIPES


def test_missing_dedup_or_annotations_is_a_clear_error(spark, tmp_path):
    run = make_tiny_run(tmp_path / "run")
    shutil.rmtree(run.table("annotations"))
    with pytest.raises(EmitError, match="annotations/ is missing.*pmc-enrich annotate"):
        emit_recipes(spark, run, PipelineConfig(), recipes=["BE-Educational"])
    shutil.rmtree(run.table("dedup"))
    with pytest.raises(EmitError, match="dedup/ is missing.*pmc-enrich dedup"):
        emit_recipes(spark, run, PipelineConfig(), recipes=["BE-Base"])
    assert not run.table("variants").exists()
