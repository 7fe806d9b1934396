"""The HTML report on the hand-made run: known figures in every section, a self-contained page,
sections omitted (not broken) when their input is absent, and refusal of a folder that is not a run.
tests/test_report_browser.py renders the page in a real browser."""

from __future__ import annotations

import json
import re
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import NotARunError
from pipeline.report import FIGURES_FILE, gather, write_report
from pipeline.report.agreement import calibration_points
from pipeline.rundir import RunDir, write_json_atomic
from test_emit_fixtures import copy_run, emitted_tiny_run, make_tiny_run


@pytest.fixture(scope="module")
def reported(spark, tmp_path_factory):
    run = copy_run(emitted_tiny_run(spark), tmp_path_factory.mktemp("report") / "run")
    out = write_report(run)
    assert out["charts"] >= 14
    return run


@pytest.fixture(scope="module")
def facts(reported):
    return json.loads((reported.reports / FIGURES_FILE).read_text())


def test_funnels_per_unit(facts):
    funnels = {unit: {s["step"]: s["count"] for s in steps} for unit, steps in facts["funnels"].items()}
    assert funnels == {
        "documents": {"documents seen": 8, "parsed": 7, "quarantined": 1},
        "articles": {"article copies parsed": 7, "kept (newest copy)": 7, "superseded": 0,
                     "kept, flagged as reprints": 1},
        "paragraphs": {"paragraphs": 17, "non-duplicate": 12, "non-duplicate, annotated by the student": 12},
    }
    coverage = {r["what"]: r["count"] for r in facts["label_coverage"]}
    assert coverage == {"label rows": 5, "valid (status ok)": 4, "valid, on a run paragraph": 4,
                        "paragraphs sampled for the LLM": 4, "sampled, with a valid label": 4}


def test_variants_count_rows_after_upsampling(facts):
    sizes = {(v["variant"], v["split"]): (v["unique_rows"], v["rows"]) for v in facts["variants"]
             if v["variant"].startswith("BE-")}
    assert sizes[("BE-All", "commercial")][1] == 20 and sizes[("BE-All", "noncommercial")][1] == 11
    assert sizes[("BE-ClinicalCase", "commercial")] == (2, 11)  # one clinical-case article ×10
    assert facts["thresholds"] == {"3.0": ["BE-All"]}
    assert {r["variant"]: r["min_educational_score"] for r in facts["recipes"]}["BE-All"] == 3.0


def test_dedup_languages_and_licences(facts):
    d = facts["dedup"]
    assert d["matches"] == {"unique": 12, "exact": 5}
    assert d["cluster_sizes"] == [{"cluster_size": "2", "clusters": 2}]
    assert d["reprints"][0]["article_id"] == "PMC7" and d["reprints"][0]["copy_of"] == "PMC1"
    assert d["reprinted_articles"] == 1
    assert all(r["text"] for r in d["top_repeated"]) and d["top_repeated"][0]["copies"] == 2
    ll = facts["languages_licences"]
    assert ll["paragraph_languages"] == {"en": 15, "fr": 2}
    assert ll["article_licences"] == {"CC BY": 4, "CC BY-NC": 1, "CC BY-NC-ND": 1, "CC0": 1}
    assert ll["paragraph_licences"]["CC BY"] == 4 + 2 + 1 + 3  # PMC1, PMC3, PMC4, PMC7
    assert ll["article_commercial"] == {"commercial": 5, "noncommercial": 2}


def test_labels_against_the_student(facts):
    ag = facts["agreement"]
    comp = ag["compared"]
    # The tiny model card lists no split: compared on every labelled run paragraph, and said so.
    assert comp["held_out"] is False and "INCLUDE TRAINING PARAGRAPHS" in comp["population"]
    assert comp["n"] == 4
    assert comp["document_type"]["accuracy"] == 1.0 and comp["document_type"]["confusion"]["matrix"][0][0] == 1
    assert comp["educational_score"]["mae"] == 0.0
    assert comp["calibration"] == [{"llm_score": 2, "student_mean": 2.0, "n": 1},
                                   {"llm_score": 3, "student_mean": 3.0, "n": 2},
                                   {"llm_score": 4, "student_mean": 4.0, "n": 1}]
    rows = {r["student"]: r for r in ag["students"]}
    assert rows["fasttext (fasttext-test-1)"]["domain_f1"] == 0.82
    assert ag["paper"]["type_f1"] == 0.925


def test_student_distributions_over_the_whole_run(facts):
    st = facts["student"]
    assert st["n"] == 17 and sum(b[2] for b in st["score_bins"]) == 17
    assert len(st["score_bins"]) == 16 and st["score_bins"][0][:2] == [1.0, 1.25]
    by_start = {b[0]: b[2] for b in st["score_bins"] if b[2]}
    assert by_start == {1.0: 2, 2.0: 3, 3.0: 4, 4.0: 4, 4.75: 4}  # 5.0 falls in the last bin
    assert st["at_or_above"] == {"3.0": 12}
    assert st["document_type"] == {"clinical_case": 6, "other": 3, "review": 3, "study": 5}


def test_examples_quarantine_and_provenance(facts):
    ex = facts["examples"]
    assert set(ex) == {"clinical_case", "study", "review", "other"}
    assert ex["clinical_case"][0]["paragraph_id"] == "PMC1:00000"  # labelled by the LLM too: first
    assert ex["clinical_case"][0]["llm_type"] == "clinical_case"
    assert all(r["student_type"] == cls for cls, rows in ex.items() for r in rows)
    assert facts["quarantine"] == [{"reason": "malformed_xml", "documents": 1, "example_source": "oa_other/broken.xml",
                                    "example_error": "unclosed tag"}]
    assert facts["invalid_labels"][0]["reason"] == "bad_json"
    p = facts["provenance"]
    assert p["labellers"] == ["import:reference-labels.jsonl (prompt v1)"]
    assert p["students"] == {"fasttext": "fasttext-test-1"} and p["annotated_by"] == ["fasttext-test-1"]
    assert "duckdb" in p["versions"] and p["table_markers"]["articles"]["rows"] == 7


def test_html_is_self_contained(reported):
    page = (reported.reports / "report.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:|//|file:)", page)  # nothing fetched from elsewhere
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count("<figure class='chart'") >= 14 and "<svg" in page
    for text in ("Documents", "Articles", "Paragraphs", "Dedup", "Languages and licences", "confusion matrix",
                 "Calibration", "INCLUDE TRAINING PARAGRAPHS", "paper's student", "≥ 3.0: BE-All (12 paragraphs)",
                 "malformed_xml", "Provenance", "tokens counted with", "clinical_case"):
        assert text in page, text


def test_held_out_paragraphs_from_the_train_stage(tmp_path):
    run = make_tiny_run(tmp_path / "run")
    # The train stage names its held-out paragraphs: only those are compared.
    pq.write_table(pa.table({"paragraph_id": ["PMC1:00000", "PMC3:00000"]}), run.root / "model" / "heldout.parquet")
    comp = gather(run)["agreement"]["compared"]
    assert comp["held_out"] is True and comp["n"] == 2


def test_held_out_split_recovered_from_the_model_card(tmp_path):
    from classifiers.dataset import examples_from_table, read_table, stratified_split

    from classifiers.features import text_hash

    run = make_tiny_run(tmp_path / "run")
    # Give each label its real text hash (the fixture's placeholder makes every row one text).
    path = next(run.table("labels").glob("*.parquet"))
    labels = pq.read_table(path)
    hashes = pa.array([text_hash(t) for t in labels["text"].to_pylist()])
    pq.write_table(labels.set_column(labels.schema.get_field_index("text_hash"), "text_hash", hashes), path)
    ex, _ = examples_from_table(read_table(run.table("labels")))
    _, held = stratified_split(ex, 0.6, 3)  # one label per stratum: round(0.6) = 1 held out of each
    assert len(held) == 4
    card_path = run.root / "model" / "model_card.json"
    card = json.loads(card_path.read_text())
    card.update(label_source=str(run.table("labels")),
                split={"validation_fraction": 0.6, "seed": 3, "heldout": len(held)})
    write_json_atomic(card_path, card)
    comp = gather(run)["agreement"]["compared"]
    assert comp["held_out"] is True and comp["n"] == len(held) and "held out from training" in comp["population"]
    # A card whose count the split does not reproduce is not trusted: all labelled paragraphs, said so.
    card["split"]["heldout"] = len(held) + 1
    write_json_atomic(card_path, card)
    comp = gather(run)["agreement"]["compared"]
    assert comp["held_out"] is False and comp["n"] == 4


def test_timings_from_stage_reports(tmp_path):
    run = make_tiny_run(tmp_path / "run")
    # The one-stage-contract report shape: figures nested, elapsed_s at the top.
    write_json_atomic(run.report("annotate"), {"stage": "annotate", "elapsed_s": 2.0, "skipped": False,
                                               "figures": {"paragraphs": 17}})
    rows = {r["stage"]: r for r in gather(run)["timings"]}
    assert rows["annotate"]["per_s"] == 8.5 and rows["annotate"]["unit"] == "paragraphs"


def test_report_on_a_partial_run(tmp_path):
    # Only ingest tables: the report renders what there is and omits the rest.
    run = make_tiny_run(tmp_path / "run")
    for table in ("dedup", "dedup_articles", "sample", "labels", "annotations", "model"):
        shutil.rmtree(run.table(table))
    facts = gather(run)
    assert [s["step"] for s in facts["funnels"]["paragraphs"]] == ["paragraphs"]
    assert facts["dedup"] is None and facts["agreement"] is None and facts["student"] is None
    out = write_report(run)
    page = (run.reports / "report.html").read_text()
    assert out["bytes"] == len(page.encode()) and "Languages and licences" in page and "id='dedup'" not in page


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotARunError):
        write_report(RunDir(empty))
    assert list(empty.iterdir()) == []


def test_calibration_points():
    assert calibration_points([1, 1, 3], [1.5, 2.5, 3.0]) == [{"llm_score": 1, "student_mean": 2.0, "n": 2},
                                                              {"llm_score": 3, "student_mean": 3.0, "n": 1}]


def test_out_of_fold_metrics_of_a_cross_validated_card(tmp_path):
    from classifiers.metrics import classification_metrics, score_metrics

    run = make_tiny_run(tmp_path / "run")
    truth_t, pred_t = ["study", "study", "review", "other", "clinical_case"], ["study", "review", "review", "other", "study"]
    truth_s, pred_s = [1, 2, 2, 4, 5], [1.2, 2.4, 1.6, 3.1, 4.2]
    metrics = {"document_type": classification_metrics(truth_t, pred_t, ("clinical_case", "study", "review", "other")),
               "domain": classification_metrics(["clinical", "clinical", "biomedical", "other", "clinical"],
                                                ["clinical", "biomedical", "biomedical", "other", "clinical"],
                                                ("clinical", "biomedical", "other")),
               "educational_score": {**score_metrics(truth_s, pred_s),
                                     "as_classes": classification_metrics([str(x) for x in truth_s],
                                                                          ["1", "2", "2", "3", "4"],
                                                                          ("1", "2", "3", "4", "5"))}}
    card_path = run.root / "model" / "model_card.json"
    card = json.loads(card_path.read_text())
    card["evaluation"] = {"method": "grouped 5-fold cross-validation (StratifiedGroupKFold by document_type)"}
    card["students"]["fasttext"]["metrics"] = metrics
    write_json_atomic(card_path, card)
    ag = gather(run)["agreement"]
    comp = ag["compared"]
    assert comp["held_out"] is True and comp["n"] == 5 and "trained without its article" in comp["population"]
    assert comp["document_type"]["confusion"]["matrix"][1] == [0, 1, 1, 0]  # study → study, review
    # Calibration from the 5-class score confusion: the mean rounded prediction per LLM score.
    assert comp["calibration"] == [{"llm_score": 1, "n": 1, "student_mean": 1.0},
                                   {"llm_score": 2, "n": 2, "student_mean": 2.0},
                                   {"llm_score": 4, "n": 1, "student_mean": 3.0},
                                   {"llm_score": 5, "n": 1, "student_mean": 4.0}]
    assert "rounded" in comp["calibration_note"]
    # The train stage's per-row out-of-fold predictions, when present, are used instead (real scores).
    oof = pa.table({"student": ["fasttext"] * 5 + ["linear"], "document_type": pred_t + ["other"],
                    "domain": ["clinical", "biomedical", "biomedical", "other", "clinical", "other"],
                    "educational_score": pred_s + [3.0], "llm_document_type": truth_t + ["study"],
                    "llm_domain": ["clinical", "clinical", "biomedical", "other", "clinical", "other"],
                    "llm_educational_score": truth_s + [3]})
    pq.write_table(oof, run.root / "model" / "oof_predictions.parquet")
    comp = gather(run)["agreement"]["compared"]
    assert comp["n"] == 5 and comp["calibration_note"] == ""
    assert comp["calibration"][1] == {"llm_score": 2, "student_mean": 2.0, "n": 2}
    assert comp["educational_score"]["mae"] == pytest.approx(sum(abs(t - p) for t, p in zip(truth_s, pred_s)) / 5)
    assert comp["document_type"]["per_class"]["review"]["precision"] == 0.5


def test_contamination_section(tmp_path):
    run = make_tiny_run(tmp_path / "run")
    folder = run.table("contamination")
    folder.mkdir()
    pq.write_table(pa.table({"paragraph_id": ["PMC1:00000", "PMC1:00000", "PMC2:00000"],
                             "benchmark": ["medqa", "pubmedqa", "medqa"], "item_id": ["q1", "q7", "q2"],
                             "matched_ngrams": pa.array([9, 4, 12], pa.int32()), "overlap": [0.9, 0.4, 0.6]}),
                   folder / "part-0.parquet")
    (folder / "_COMPLETE").write_text("{}")
    c = gather(run)["contamination"]
    assert c["paragraphs"] == 2 and c["by_benchmark"] == {"medqa": 2, "pubmedqa": 1}
    assert [(r["paragraph_id"], r["item_id"]) for r in c["top"]] == [("PMC1:00000", "q1"), ("PMC2:00000", "q2"),
                                                                      ("PMC1:00000", "q7")]
    write_report(run)
    assert "Benchmark contamination" in (run.reports / "report.html").read_text()
