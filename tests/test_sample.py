"""Stratified sampling: strata, floors, determinism, minimum length, duplicates excluded.

The run is built from the 3,000 real paragraphs of reference-labels.jsonl (their article type,
section title and language), written with the ingest schemas; the licence of each article is
assigned from its source (the reference file does not carry one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import sampling
from pipeline.config import PipelineConfig, SampleConfig
from pipeline.rundir import RunDir, write_parquet_atomic
from pipeline.stage import run_stage
from pipeline.stages import BY_NAME
from schemas.ingest import ARTICLES, PARAGRAPHS

LICENCES = ["CC BY", "CC BY-NC-ND", "none"]
SIZE = 1200  # 311 strata here: the floors (903 rows) fit, the rest is shared proportionally


def build_run(root: Path, reference: Path, files: int = 1, dedup: bool = True) -> tuple[RunDir, dict]:
    rows = [json.loads(line) for line in reference.read_text(encoding="utf-8").splitlines() if line.strip()]
    articles: dict[str, dict] = {}
    paragraphs, seen_text, duplicates = [], set(), []
    for row in rows:
        aid = "src:" + hashlib.sha1(row["source"].encode()).hexdigest()[:16]
        art = articles.setdefault(aid, {
            "article_id": aid, "pmid": None, "doi": None, "title": None, "journal": None, "year": 2020,
            "article_type": row["article_type"] or None,
            "license": LICENCES[int(hashlib.sha1(aid.encode()).hexdigest(), 16) % 3],
            "license_url": None, "commercial": False, "retracted": False, "language": row["language"],
            "source": row["source"], "last_updated": None, "n_paragraphs": 0})
        art["commercial"] = art["license"] in ("CC BY",)
        pid = f"{aid}:{art['n_paragraphs']:05d}"
        paragraphs.append({"paragraph_id": pid, "article_id": aid, "ordinal": art["n_paragraphs"], "zone": "body",
                           "section_path": [row["section"]] if row["section"] else [], "xml_path": "body/p",
                           "text": row["text"], "n_words": len(row["text"].split()), "language": row["language"],
                           "language_score": 0.99})
        art["n_paragraphs"] += 1
        if row["text"] in seen_text:
            duplicates.append(pid)
        seen_text.add(row["text"])
    run = RunDir(root)
    for name, schema, data in (("paragraphs", PARAGRAPHS, paragraphs), ("articles", ARTICLES, list(articles.values()))):
        tmp = run.tmp_path(name)
        step = math.ceil(len(data) / files)
        for i in range(files):
            write_parquet_atomic(pa.Table.from_pylist(data[i * step:(i + 1) * step], schema=schema),
                                 tmp / f"part-{i:05d}.parquet")
        run.publish(tmp, name, {"rows": len(data)})
    if dedup:
        tmp = run.tmp_path("dedup")
        dup = set(duplicates)
        table = pa.table({"paragraph_id": [p["paragraph_id"] for p in paragraphs],
                          "is_duplicate": [p["paragraph_id"] in dup for p in paragraphs]})
        write_parquet_atomic(table, tmp / "part-00000.parquet")
        run.publish(tmp, "dedup", {"rows": len(paragraphs)})
    return run, {"paragraphs": paragraphs, "duplicates": duplicates}


def run_sample(spark, run: RunDir, cfg: PipelineConfig, size: int | None = None, fraction: float | None = None,
               overwrite: bool = False, full: bool = False) -> dict:
    """The sample stage through the stage runner; its figures (or the whole report with ``full``)."""
    update = {"size": size, "fraction": fraction} if size is not None or fraction is not None else {}
    cfg = cfg.model_copy(update={"out": str(run.root), "sample": cfg.sample.model_copy(update=update)})
    report = run_stage(BY_NAME["sample"], cfg, overwrite=overwrite, spark_factory=lambda: spark)
    return report if full else report["figures"]


def sample_rows(run: RunDir) -> list[dict]:
    return pq.read_table(run.table("sample")).to_pylist()


@pytest.fixture(scope="module")
def sampled(spark, reference_labels, tmp_path_factory):
    run, truth = build_run(tmp_path_factory.mktemp("s1") / "run", reference_labels)
    cfg = PipelineConfig(sample=SampleConfig(seed=0, floor=5, min_tokens=64))
    report = run_sample(spark, run, cfg, size=SIZE)
    return run, truth, report


def test_strata_floors_and_report(sampled):
    run, truth, report = sampled
    rows = sample_rows(run)
    assert report["sampled"] == len(rows) == SIZE == report["target"]
    assert len({r["paragraph_id"] for r in rows}) == SIZE
    # every row's stratum is its five stratification columns
    for r in rows:
        assert r["stratum"] == "|".join(r[c] for c in sampling.STRATUM_COLUMNS)
    strata = {s["stratum"]: s for s in report["strata"]}
    assert sum(s["population"] for s in strata.values()) == report["eligible"]
    counts = Counter(r["stratum"] for r in rows)
    for key, s in strata.items():
        assert s["sampled"] == s["allocated"] == counts.get(key, 0)
        assert s["allocated"] >= min(5, s["population"])  # the floor
        assert s["allocated"] <= s["population"]
    # rare strata are over-represented relative to their share, large ones near proportional
    case = [s for s in strata.values() if s["article_type"] == "case-report"]
    assert case and all(s["sampled"] >= min(5, s["population"]) for s in case)
    # strata above the floor share the rest in proportion to population (largest remainder: ±1)
    free = [s for s in strata.values() if s["allocated"] > 5]
    assert len(free) >= 10
    ratio = sum(s["allocated"] for s in free) / sum(s["population"] for s in free)
    assert all(abs(s["allocated"] - s["population"] * ratio) <= 1 for s in free)
    assert max(free, key=lambda s: s["population"])["allocated"] > 5 * 5
    # the stratification columns carry the expected values
    assert {r["licence_group"] for r in rows} == {"commercial", "noncommercial", "other"}
    assert {"en", "pt"} <= {r["language"] for r in rows}
    assert set(r["article_type"] for r in rows) >= {"research-article", "review-article", "case-report", "other"}
    assert {"methods", "results", "discussion", "introduction"} <= {r["section_family"] for r in rows}
    assert run.report("sample").exists() and run.is_complete("sample")


def test_min_length_and_duplicates_excluded(sampled):
    run, truth, report = sampled
    rows = sample_rows(run)
    assert all(r["n_tokens"] >= 64 and r["n_tokens"] == math.ceil(r["n_words"] * 1.3) for r in rows)
    dup = set(truth["duplicates"])
    assert dup and report["duplicates_excluded"] == len(dup) and report["dedup_used"] is True
    assert not dup & {r["paragraph_id"] for r in rows}
    kept = [p for p in truth["paragraphs"] if p["paragraph_id"] not in dup]
    short = sum(1 for p in kept if math.ceil(p["n_words"] * 1.3) < 64)
    assert report["too_short"] == short and report["eligible"] == len(kept) - short


def test_spark_selection_matches_pure_reference(sampled):
    """The Spark window picks exactly what the in-memory reference picks (hash order per stratum)."""
    run, truth, report = sampled
    scfg = SampleConfig(seed=0)
    dup = set(truth["duplicates"])
    articles = {a["article_id"]: a for a in pq.read_table(run.table("articles")).to_pylist()}
    derived = []
    for p in truth["paragraphs"]:
        n_tokens = sampling.estimate_tokens(p["n_words"])
        if p["paragraph_id"] in dup or n_tokens < 64:
            continue
        a = articles[p["article_id"]]
        values = {"article_type": sampling.article_type_group(a["article_type"], scfg.article_types),
                  "section_family": sampling.section_family(p["zone"], p["section_path"]),
                  "language": sampling.language_group(p["language"]),
                  "licence_group": sampling.licence_group(a["license"], a["commercial"]),
                  "length_bucket": sampling.length_bucket(n_tokens)}
        derived.append({"paragraph_id": p["paragraph_id"], "stratum": sampling.stratum_key(values)})
    populations = Counter(d["stratum"] for d in derived)
    allocation = sampling.allocate(populations, SIZE, 5)
    expected = {r["paragraph_id"] for r in sampling.select(derived, allocation, seed=0)}
    assert expected == {r["paragraph_id"] for r in sample_rows(run)}


def test_deterministic_across_partitioning_and_seed(spark, sampled, reference_labels, tmp_path):
    run, _, report = sampled
    first = {r["paragraph_id"] for r in sample_rows(run)}
    # the same data split into 7 files
    other, truth = build_run(tmp_path / "run", reference_labels, files=7, dedup=True)
    again = run_sample(spark, other, PipelineConfig(sample=SampleConfig(seed=0)), size=SIZE)
    assert {r["paragraph_id"] for r in sample_rows(other)} == first
    assert again["strata"] == report["strata"]
    # a rerun with the same settings is skipped; a new seed gives another sample of the same shape
    rerun = run_sample(spark, other, PipelineConfig(sample=SampleConfig(seed=0)), size=SIZE, full=True)
    assert rerun["skipped"] is True and rerun["figures"] == again
    reseeded = run_sample(spark, other, PipelineConfig(sample=SampleConfig(seed=1)), size=SIZE)
    second = {r["paragraph_id"] for r in sample_rows(other)}
    assert second != first and len(second) == SIZE
    assert [s["allocated"] for s in reseeded["strata"]] == [s["allocated"] for s in report["strata"]]



def test_allocate_properties():
    pops = {"big": 5000, "mid": 400, "rare": 3, "small": 12, "empty": 0}
    alloc = sampling.allocate(pops, 300, floor=10)
    assert sum(alloc.values()) == 300
    assert alloc["rare"] == 3 and alloc["small"] == 10 and alloc["empty"] == 0
    assert alloc["big"] / alloc["mid"] == pytest.approx(5000 / 400, rel=0.05)
    # floors exceeding the size: spread evenly, rare strata keep all they have
    tight = sampling.allocate({"a": 1000, "b": 1000, "c": 2, "d": 50}, 20, floor=10)
    assert sum(tight.values()) == 20 and tight["c"] == 2 and tight["a"] == tight["b"] == 6
    # never more than the population, and size capped at the total
    assert sampling.allocate({"a": 3, "b": 4}, 100, floor=5) == {"a": 3, "b": 4}
    with pytest.raises(ValueError):
        sampling.target_size(10, 5, 0.5)


def test_stratum_functions():
    assert sampling.section_family("body", ["Case presentation"]) == "case"
    assert sampling.section_family("body", ["Methods", "Statistical analysis"]) == "methods"
    assert sampling.section_family("body", ["Resultados"]) == "results"
    assert sampling.section_family("body", ["Discussão"]) == "discussion"
    assert sampling.section_family("abstract", None) == "abstract"
    assert sampling.section_family("body", []) == "body_untitled"
    assert sampling.licence_group("CC BY", True) == "commercial"
    assert sampling.licence_group("CC BY-NC-SA", False) == "noncommercial"
    assert sampling.licence_group("none", False) == "other"
    assert sampling.length_bucket(64) == "0-127" and sampling.length_bucket(300) == "256-511"
    assert sampling.length_bucket(900) == "512+"
    assert sampling.article_type_group("Case-Report", ["case-report"]) == "case-report"
    assert sampling.article_type_group("book-review", ["case-report"]) == "other"
    assert sampling.article_type_group(None, []) == "unknown"


def test_sample_of_the_ingested_bundle(spark, run_copy, caplog):
    """The real ingest output (bundled sample): the columns line up; no dedup sidecar → a warning
    and every paragraph eligible."""
    caplog.set_level(logging.WARNING)
    assert not run_copy.table("dedup").exists()
    report = run_sample(spark, run_copy, PipelineConfig(sample=SampleConfig(min_tokens=32)), fraction=0.5)
    assert "no complete dedup/ sidecar" in caplog.text
    assert report["dedup_used"] is False and report["duplicates_excluded"] == 0
    rows = sample_rows(run_copy)
    assert report["eligible"] > 0 and len(rows) == report["sampled"] == round(report["eligible"] * 0.5)
    assert all(r["n_tokens"] >= 32 for r in rows)
    paragraphs = pq.read_table(run_copy.table("paragraphs"), columns=["paragraph_id", "text"]).to_pylist()
    texts = {p["paragraph_id"]: p["text"] for p in paragraphs}
    assert all(texts[r["paragraph_id"]] == r["text"] for r in rows)
    assert report["paragraphs"] == len(paragraphs)


# ------------------------------------------------------------------------------------ active rounds


def labelled_round(run: RunDir, reference: Path, rows: list[dict]) -> None:
    """labels/ for these sampled rows with their reference labels (the LLM's stand-in), as the label
    stage writes it (round and strategy from the sample)."""
    from datetime import datetime, timezone

    from pipeline.labeling.core import text_hash
    from schemas.labels import LABEL_FIELDS, LABELS, PROB_COLUMNS

    ref = {}
    for line in reference.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            ref.setdefault(r["text"], r)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out = [{"paragraph_id": r["paragraph_id"], "text": r["text"], "text_hash": text_hash(r["text"]),
            **{f: ref[r["text"]][f] for f in LABEL_FIELDS}, "labeller": "reference", "prompt_version": "test",
            "created_at": now, "status": "ok", "invalid_reason": None, "raw_response": None,
            **{f: None for f in PROB_COLUMNS}, "round": r["round"], "strategy": r["strategy"]} for r in rows]
    tmp = run.tmp_path("labels")
    write_parquet_atomic(pa.Table.from_pylist(out, schema=LABELS), tmp / "part-00000.parquet")
    run.publish(tmp, "labels", {"rows": len(out)})


def trained_student(run: RunDir):
    """A fastText student trained on labels/ (classifiers' own trainer), saved as model/fasttext."""
    from classifiers.dataset import Examples
    from classifiers.fasttext_student import FastTextStudent

    rows = pq.read_table(run.table("labels")).to_pylist()
    examples = Examples(text=[r["text"] for r in rows],
                        labels={"document_type": [r["document_type"] for r in rows],
                                "domain": [r["domain"] for r in rows],
                                "educational_score": [str(r["educational_score"]) for r in rows]},
                        key=[r["text_hash"] for r in rows])
    student = FastTextStudent.train(examples, {"epoch": 10}, seed=0)
    tmp = run.tmp_path("model")
    student.save(tmp / "fasttext")
    run.publish(tmp, "model", {"rows": len(rows)})
    return student


@pytest.fixture(scope="module")
def round_zero(sampled, tmp_path_factory, reference_labels):
    """A copy of the stratified run with round 0 labelled and a student trained on it."""
    import shutil

    run0, truth, _ = sampled
    root = tmp_path_factory.mktemp("al") / "run"
    shutil.copytree(run0.root, root)
    run = RunDir(root)
    labelled_round(run, reference_labels, sample_rows(run))
    student = trained_student(run)
    return run, truth, student


@pytest.mark.parametrize("strategy", ["uncertainty", "diverse"])
def test_active_round_adds_unlabelled_rows_where_the_student_is_unsure(spark, round_zero, strategy, tmp_path):
    import shutil

    import numpy as np

    from pipeline import active

    base, truth, student = round_zero
    shutil.copytree(base.root, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    before = {r["paragraph_id"] for r in sample_rows(run)}
    cfg = PipelineConfig(sample=SampleConfig(strategy=strategy, random_share=0.2, seed=0))
    figures = run_sample(spark, run, cfg, size=200)

    rows = sample_rows(run)
    assert figures["round"] == 1 and figures["new"] == 200 and figures["labelled_before"] == SIZE
    old = [r for r in rows if r["round"] == 0]
    new = [r for r in rows if r["round"] == 1]
    assert {r["paragraph_id"] for r in old} == before and {r["strategy"] for r in old} == {"stratified"}
    assert len(new) == 200 and not {r["paragraph_id"] for r in new} & before  # nothing labelled twice
    assert Counter(r["strategy"] for r in new) == {strategy: 160, "random": 40}
    assert not set(truth["duplicates"]) & {r["paragraph_id"] for r in new}  # the dedup sidecar holds
    assert all(r["n_tokens"] >= 64 for r in new)
    # the student is less sure of the rows it chose than of the random share
    probs = student.predict([r["text"] for r in new])
    scores = active.uncertainty({"document_type": probs.document_type_scores, "domain": probs.domain_scores,
                                 "educational_score": probs.score_probs})
    chosen = np.array([r["strategy"] == strategy for r in new])
    assert scores[chosen].mean() > scores[~chosen].mean()
    # deterministic: the same round again gives the same rows
    again = run_sample(spark, run, cfg, size=200, overwrite=True)
    assert again["new"] == 200 and {r["paragraph_id"] for r in sample_rows(run)} == {r["paragraph_id"] for r in rows}


def test_active_round_without_a_student_is_a_clear_error(spark, sampled, tmp_path):
    import shutil

    from pipeline.errors import UserError

    run0, _, _ = sampled
    shutil.copytree(run0.root, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    with pytest.raises(UserError, match="needs labels/"):
        run_sample(spark, run, PipelineConfig(sample=SampleConfig(strategy="uncertainty")), size=10)
