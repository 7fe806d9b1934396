"""The Spark dedup job on real paragraphs with planted duplicates of known Jaccard."""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timezone

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.errors import UserError
from stagetools import config_for, figures
from stagetools import run as run_stage
from pipeline.dedup.planted import articles_table, exact_jaccard, load_texts, paragraphs_table, perturb, write_run
from pipeline.rundir import RunDir

def substitute_at(text: str, positions: list[int]) -> str:
    words = text.split()
    for p in positions:
        words[p] = f"changed{p}"
    return " ".join(words)


EDITS = [("substitute", 1), ("substitute", 2), ("substitute", 4), ("substitute", 8), ("substitute", 16),
         ("insert", 1), ("insert", 3), ("insert", 10), ("delete", 1), ("delete", 3), ("delete", 10),
         ("reorder", 0), ("cosmetic", 0)]


def _read(run: RunDir, name: str) -> list[dict]:
    return sorted(pq.read_table(run.table(name)).to_pylist(),
                  key=lambda r: (r.get("paragraph_id") or r.get("article_id")))


@pytest.fixture(scope="module")
def planted(reference_labels, tmp_path_factory):
    """~900 real paragraphs + planted copies; returns the run dir and the ground truth."""
    rng = random.Random(42)
    texts = load_texts(reference_labels, min_words=40)
    rows: list[tuple[str, int, str]] = []
    # Originals: articles PMC1000.. of 6 paragraphs each.
    originals = texts[:600]
    for i, text in enumerate(originals):
        rows.append((f"PMC{1000 + i // 6}", i % 6, text))
    # Pairs (original, edited copy) in articles PMC5000..; one edit each, exact Jaccard measured.
    pairs = []
    for j, text in enumerate(texts[600:900]):
        kind, k = EDITS[j % len(EDITS)]
        copy = perturb(text, kind, k, rng)
        a, b = (f"PMC{5000 + j}", 0, text), (f"PMC{6000 + j}", 0, copy)
        rows += [a, b]
        pairs.append((f"{a[0]}:00000", f"{b[0]}:00000", exact_jaccard(text, copy)))
    # Keep rule family: the same text (cosmetic variants) in five articles with different metadata.
    family_text = texts[900]
    keep_meta = {
        "PMC7001": {"commercial": False, "year": 2001},
        "PMC7002": {"commercial": True, "year": 2015},
        "PMC7003": {"commercial": True, "year": 2012, "last_updated": datetime(2023, 5, 1, tzinfo=timezone.utc)},
        "PMC7004": {"commercial": True, "year": 2012},  # kept: commercial, 2012, updated before 7003 ...
    }
    rows += [("PMC7001", 0, family_text), ("PMC7002", 0, perturb(family_text, "cosmetic", 0, rng)),
             ("PMC7003", 0, family_text), ("PMC7004", 3, perturb(family_text, "cosmetic", 0, rng)),
             ("PMC7004", 1, family_text)]  # ... and ordinal 1 before ordinal 3 within PMC7004
    # A chain A ~ B ~ C with J(A, C) below the threshold: components would merge all three.
    base = next(t for t in texts[901:] if len(t.split()) >= 160)
    b_text = substitute_at(base, [30, 90, 150])
    c_text = substitute_at(b_text, [60, 120, 170])
    rows += [("PMC7100", 0, base), ("PMC7101", 0, b_text), ("PMC7102", 0, c_text)]
    # A reprint: PMC8000 repeats the six paragraphs of PMC1000 (4 exact, 2 lightly edited) and is newer.
    for o in range(6):
        text = originals[o]
        rows.append(("PMC8000", o, text if o < 4 else perturb(text, "substitute", 1, rng)))
    keep_meta["PMC8000"] = {"year": 2022}
    # Short templated texts (5 shingles each): below min_shingles they must stay apart.
    for s in range(30):
        rows.append((f"PMC9{s:03d}", 0, f"the funders had no role in the design of study {s}"))
    run = RunDir(tmp_path_factory.mktemp("dedup") / "run")
    write_run(run, paragraphs_table(rows), articles_table([r[0] for r in rows], keep_meta))
    return run, pairs, rows


@pytest.fixture(scope="module")
def deduped(spark, planted):
    run, pairs, rows = planted
    report = figures("dedup", spark, config_for(run))
    return run, pairs, rows, report, _read(run, "dedup")


def test_sidecar_covers_every_paragraph_once(deduped):
    run, _, rows, report, dedup = deduped
    assert [r["paragraph_id"] for r in dedup] == sorted(f"{a}:{o:05d}" for a, o, _ in rows)
    assert report["paragraphs"] == len(rows)
    by_id = {r["paragraph_id"]: r for r in dedup}
    for r in dedup:
        kept = by_id[r["kept_paragraph_id"]]
        assert kept["cluster_id"] == r["cluster_id"] and not kept["is_duplicate"]
        assert r["cluster_id"] <= r["paragraph_id"]
        assert r["is_duplicate"] == (r["match"] in ("exact", "near"))
    assert not run.table("dedup_work").exists()  # scratch signatures removed after success


def test_precision_and_recall_against_exact_jaccard(deduped):
    _, pairs, _, _, dedup = deduped
    cluster = {r["paragraph_id"]: r["cluster_id"] for r in dedup}
    high = [(a, b) for a, b, j in pairs if j >= 0.85]
    low = [(a, b) for a, b, j in pairs if j < 0.75]
    assert len(high) >= 100 and len(low) >= 40  # the planted edits span both sides of the threshold
    recall = sum(cluster[a] == cluster[b] for a, b in high) / len(high)
    false_merges = sum(cluster[a] == cluster[b] for a, b in low)
    assert recall >= 0.95
    assert false_merges == 0
    # Every predicted pair is a true near duplicate (verification on): precision 1.0 at J ≥ 0.8.
    predicted = [(a, b, j) for a, b, j in pairs if cluster[a] == cluster[b]]
    assert all(j >= 0.8 for _, _, j in predicted)


def test_chains_are_split_at_the_kept_paragraph(deduped):
    _, _, rows, _, dedup = deduped
    text = {f"{a}:{o:05d}": t for a, o, t in rows}
    a, b, c = "PMC7100:00000", "PMC7101:00000", "PMC7102:00000"
    # The premise: B is a near duplicate of A and of C, C is not one of A.
    assert exact_jaccard(text[a], text[b]) >= 0.8 and exact_jaccard(text[b], text[c]) >= 0.8
    assert exact_jaccard(text[a], text[c]) < 0.8
    by_id = {r["paragraph_id"]: r for r in dedup}
    assert by_id[b]["kept_paragraph_id"] == a and by_id[b]["match"] == "near"
    assert not by_id[c]["is_duplicate"] and by_id[c]["cluster_id"] != by_id[a]["cluster_id"]
    # Every near duplicate is ≥ threshold to the paragraph that is kept in its place.
    for r in dedup:
        if r["match"] == "near":
            assert exact_jaccard(text[r["paragraph_id"]], text[r["kept_paragraph_id"]]) >= 0.8


def test_exact_duplicates_and_keep_rule(deduped):
    _, _, _, _, dedup = deduped
    family = {r["paragraph_id"]: r for r in dedup if r["article_id"].startswith("PMC700")}
    assert len(family) == 5
    kept = {r["kept_paragraph_id"] for r in family.values()}
    assert kept == {"PMC7004:00001"}
    assert {r["cluster_id"] for r in family.values()} == {"PMC7001:00000"}
    assert all(r["match"] == "exact" for pid, r in family.items() if pid != "PMC7004:00001")
    assert len({r["exact_hash"] for r in family.values()}) == 1
    assert all(r["cluster_size"] == 5 for r in family.values())


def test_reprint_article_is_flagged(deduped):
    run, _, _, report, dedup = deduped
    flags = {r["article_id"]: r for r in _read(run, "dedup_articles")}
    assert "PMC8000" in flags and flags["PMC8000"]["other_article_id"] == "PMC1000"
    assert flags["PMC8000"]["share"] == 1.0 and flags["PMC8000"]["n_shared"] == 6
    assert "PMC1000" not in flags  # the original keeps its paragraphs
    reprint = [r for r in dedup if r["article_id"] == "PMC8000"]
    assert sorted(r["match"] for r in reprint) == ["exact"] * 4 + ["near"] * 2
    assert report["articles_flagged"] == len(flags)


def test_short_texts_are_not_glued(deduped):
    _, _, _, report, dedup = deduped
    short = [r for r in dedup if r["article_id"].startswith("PMC9")]
    assert len(short) == 30
    assert all(not r["near_eligible"] and r["cluster_size"] == 1 for r in short)
    assert report["below_min_shingles"] >= 30


def test_report_contents(deduped):
    run, _, _, report, dedup = deduped
    on_disk = json.loads(run.report("dedup").read_text())["figures"]
    assert on_disk["exact_duplicates"] == report["exact_duplicates"] == sum(r["match"] == "exact" for r in dedup)
    assert report["near_duplicates"] == sum(r["match"] == "near" for r in dedup) > 0
    assert sum(report["cluster_size_histogram"].values()) == report["clusters"]
    assert report["top_repeated_texts"][0]["count"] >= 5
    assert len(report["top_repeated_texts"]) <= 20
    assert report["params"]["num_perm"] == 128 and report["lsh"]["s_curve"]["0.80"] > 0.9
    assert report["lsh"]["candidate_pairs"] >= report["lsh"]["verified_pairs"] > 0


def test_rerun_skips_and_overwrite_reproduces_identically(spark, deduped, tmp_path):
    run, _, _, report, dedup = deduped
    marker = (run.table("dedup") / "_COMPLETE").stat().st_mtime_ns
    rerun = run_stage("dedup", spark, config_for(run))
    assert rerun["skipped"] and rerun["figures"] == report
    assert (run.table("dedup") / "_COMPLETE").stat().st_mtime_ns == marker  # skipped
    again = RunDir(tmp_path / "again")
    shutil.copytree(run.root / "paragraphs", again.table("paragraphs"))
    shutil.copytree(run.root / "articles", again.table("articles"))
    run_stage("dedup", spark, config_for(again), overwrite=True)
    assert _read(again, "dedup") == dedup
    assert _read(again, "dedup_articles") == _read(run, "dedup_articles")


def test_min_shingle_guard_is_what_keeps_short_texts_apart(spark, planted, tmp_path):
    src, _, _ = planted
    run = RunDir(tmp_path / "short")
    table = pq.read_table(src.table("paragraphs"))
    short = table.filter(pc.starts_with(table["article_id"], "PMC9"))
    write_run(run, short, articles_table(short.column("article_id").to_pylist()))
    run_stage("dedup", spark, config_for(run, dedup__min_shingles=1, dedup__threshold=0.3))
    # Without the guard, templated short texts glue together; with it (test_short_texts_are_not_glued,
    # same texts inside the main run) every one stays its own cluster.
    assert max(r["cluster_size"] for r in _read(run, "dedup")) > 1


def test_ingested_sample(spark, request):
    """The real ingested sample, once the ingest job exists."""
    pytest.importorskip("jobs.ingest")
    run_copy = request.getfixturevalue("run_copy")
    report = figures("dedup", spark, config_for(run_copy))
    dedup = pq.read_table(run_copy.table("dedup"))
    paragraphs = pq.read_table(run_copy.table("paragraphs"), columns=["paragraph_id"])
    assert dedup.num_rows == paragraphs.num_rows == report["paragraphs"]
    assert sorted(dedup.column("paragraph_id").to_pylist()) == sorted(paragraphs.column("paragraph_id").to_pylist())


def test_missing_paragraphs_is_a_clear_error(spark, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a pmc-enrich run") as err:
        run_stage("dedup", spark, config_for(RunDir(tmp_path / "empty")))
    assert "pmc-enrich ingest" in err.value.hint
