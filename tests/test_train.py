"""`train` end to end on the real reference labels: grouped CV by article, fastText, the linear
student, a tiny CPU transformer and the student distilled from it."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from pipeline.config import PipelineConfig
from pipeline.rundir import RunDir

# 3 folds and no learning curve keep the shared fixture fast; the curve has its own test.
FAST_SETS = {"train.fasttext.epoch": 15, "train.fasttext.bucket": 50_000, "train.cv_folds": 3,
             "train.learning_curve": False, "train.linear.max_iter": 60}
# A transformer small enough for a CPU test: a few steps on short inputs.
TINY_TRANSFORMER = {"train.transformer.max_steps": 3, "train.transformer.batch_size": 8,
                    "train.transformer.max_len": 32, "train.transformer.cpu_threads": 1,
                    "train.transformer.device": "cpu", "train.transformer.predict_batch_size": 64}


def test_config(**extra) -> PipelineConfig:
    from pipeline.config import apply_overrides
    return apply_overrides(PipelineConfig(), {**FAST_SETS, **extra})


test_config.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, reference_labels):
    """A run whose model/ holds a fastText student trained on the reference labels (shared by the
    predict and annotate tests)."""
    from stagetools import config_for, figures

    root = tmp_path_factory.mktemp("distill") / "run"
    labels = root.parent / "reference-labels.jsonl"
    shutil.copy(reference_labels, labels)
    report = figures("train", None, config_for(RunDir(root), test_config(), train__labels=str(labels),
                                               train__student="fasttext"))
    return RunDir(root), report, labels


def test_train_fasttext_is_evaluated_by_article_in_card_and_report(trained_run):
    run, report, labels = trained_run
    card = json.loads((run.table("model") / "model_card.json").read_text())
    assert run.is_complete("model")
    assert card["label_hash"] == hashlib.sha1(labels.read_bytes()).hexdigest()
    assert card["labeller"] == ["import:reference-labels.jsonl"] and card["prompt_version"] == ["unknown"]
    assert card["n_used"] == 3000 and card["default_student"] == "fasttext"
    assert card["annotator"]["cpu"] == "fasttext" and "grouped-CV" in card["annotator"]["reason"]
    ev = card["evaluation"]
    assert ev["method"].startswith("grouped 3-fold") and ev["groups"] == "article" and card["group_column"] == "source"
    assert 250 <= ev["n_groups"] <= 318 and sum(ev["fold_sizes"]) == 3000
    ft = card["students"]["fasttext"]
    assert ft["hyperparameters"]["document_type"]["epoch"] == 15
    assert ft["features"]["context"] == ["section", "article_type"]  # zone: not in the label file
    cv = report["students"]["fasttext"]["cv"]
    # By article the student is weaker than the old paragraph split said (0.84 type F1 there).
    assert 0.6 <= cv["type_f1"]["mean"] <= 0.85 and cv["type_f1"]["std"] > 0 and len(cv["type_f1"]["folds"]) == 3
    assert cv["domain_f1"]["mean"] >= 0.6 and cv["score_mae"]["mean"] <= 0.48
    m = report["students"]["fasttext"]["metrics"]  # pooled out-of-fold: every row scored once
    assert m["document_type"]["n"] == 3000
    per_class = m["document_type"]["per_class"]
    assert {c: per_class[c]["support"] for c in per_class} == {"clinical_case": 42, "study": 1547, "review": 874,
                                                               "other": 537}
    assert np.array(m["domain"]["confusion"]["matrix"]).sum() == 3000
    by = report["students"]["fasttext"]["by_collection"]
    assert set(by) <= {"pmc_bulk", "elife", "scielo", "europe_pmc", "other"} and "elife" in by
    assert sum(v["n"] for v in by.values()) == 3000
    saved = json.loads(run.report("train").read_text())["figures"]
    assert saved["table"][0]["student"] == "fasttext" and saved["table"][0]["type_f1_std"] is not None
    assert saved["paper_student"]["document_type"]["macro_f1"] == 0.925


def test_paragraph_split_is_an_explicit_option_labelled_optimistic(tmp_path, reference_labels):
    from jobs.train import train_students

    cfg = test_config(**{"train.evaluation": "paragraph_split", "train.fasttext.epoch": 5})
    report = train_students(None, RunDir(tmp_path / "run"), cfg, labels=str(reference_labels), student="fasttext")
    assert "OPTIMISTIC" in report["evaluation"]["method"]
    assert report["evaluation"]["heldout"] == pytest.approx(600, abs=10)
    assert report["students"]["fasttext"]["metrics"]["document_type"]["n"] == report["evaluation"]["heldout"]


def test_train_rerun_is_skipped_unless_overwrite(trained_run):
    from stagetools import config_for
    from stagetools import run as run_stage

    run, report, labels = trained_run
    before = (run.table("model") / "fasttext" / "student.json").read_text()
    again = run_stage("train", None, config_for(run, test_config(), train__labels=str(labels),
                                                train__student="fasttext"))
    assert again["skipped"] is True
    assert (run.table("model") / "fasttext" / "student.json").read_text() == before


def test_train_cli_runs_grouped_cv_and_summarises(tmp_path, reference_labels):
    from typer.testing import CliRunner

    from pipeline.cli import app

    res = CliRunner().invoke(app, ["train", str(tmp_path / "run"), "--labels", str(reference_labels),
                                   "--student", "fasttext", "--set", "train.fasttext.epoch=5",
                                   "--set", "train.fasttext.bucket=20000", "--set", "train.cv_folds=2",
                                   "--set", "train.learning_curve=false"])
    assert res.exit_code == 0, res.output
    assert "grouped 2-fold" in res.output and "annotates: CPU executors → fasttext" in res.output
    report = json.loads((tmp_path / "run" / "reports" / "train.json").read_text())
    assert "±" in json.dumps(report, ensure_ascii=False)
    assert (tmp_path / "run" / "model" / "fasttext" / "document_type.bin").exists()


@pytest.mark.slow  # minutes of CPU training: not in the fast tier
def test_auto_on_cpu_trains_cpu_students_and_learning_curve_is_marked_extrapolated(tmp_path, reference_labels):
    """--student auto without a GPU: fastText + the linear student, both by grouped CV; the card
    says which annotates and why; the learning curve covers 25-100 % with a 10x extrapolation."""
    from jobs.train import print_table, train_students
    from classifiers.students import load_student, resolve_student_dir

    cfg = test_config(**{"train.fasttext.epoch": 5, "train.fasttext.bucket": 20000, "train.cv_folds": 2,
                         "train.learning_curve": True, "train.learning_curve_fractions": [0.5, 0.75, 1.0],
                         "train.transformer.device": "cpu", "train.linear.max_iter": 40})
    report = train_students(None, RunDir(tmp_path / "run"), cfg, labels=str(reference_labels), student="auto")
    assert sorted(report["students"]) == ["fasttext", "linear"] and "no GPU" in report["trained_because"]
    annot = report["annotator"]
    scores = {s: report["students"][s]["selection_score"] for s in ("fasttext", "linear")}
    assert annot["cpu"] == max(scores, key=scores.get) == report["default_student"]
    curve = report["learning_curve"]
    assert [p["fraction"] for p in curve["points"]] == [0.5, 0.75, 1.0]
    ns = [p["n_labels"] for p in curve["points"]]
    assert ns == sorted(ns) and ns[-1] == pytest.approx(1500, abs=150)
    fit = curve["power_law"]["type_f1"]
    assert fit["n_at_10x"] == round(10 * ns[-1]) and 0 < fit["at_10x_extrapolated"] <= 1
    assert "EXTRAPOLATION" in curve["note"] and "EXTRAPOLATION" in print_table(report)
    lin = load_student(resolve_student_dir(tmp_path / "run" / "model", "linear"))
    assert lin.version.startswith("linear-") and len(lin.predict(["A 54-year-old man presented with fever."])) == 1


def test_tiny_transformer_trains_with_progress_saves_reloads_and_predicts(tmp_path, reference_labels, caplog):
    import logging

    from classifiers.dataset import examples_from_table, read_table, stratified_split
    from classifiers.transformer import TransformerStudent

    ex, _ = examples_from_table(read_table(reference_labels))
    tr, ho = stratified_split(ex, 0.2, seed=0)
    train, held = ex.take(tr[:64]), ex.take(ho[:24])
    with caplog.at_level(logging.INFO, logger="classifiers.transformer"):
        student = TransformerStudent.train(train, held, params={"max_steps": 3, "batch_size": 8, "max_len": 32,
                                                                "cpu_threads": 1, "progress_seconds": 0},
                                           context_features=("section",), device="cpu")
    progress = [r.getMessage() for r in caplog.records if "ETA" in r.getMessage()]
    assert progress and "epoch 1/1 step 3/3 loss" in progress[-1]  # epoch, step, loss, ETA
    choice = student.meta["score_head_choice"]
    assert choice["by"] == "dev MAE" and choice["chosen"] in ("classes", "regression")
    assert choice["chosen"] == min(choice["dev_mae"], key=choice["dev_mae"].get)
    student.save(tmp_path / "tr")
    card = json.loads((tmp_path / "tr" / "student.json").read_text())
    assert card["kind"] == "transformer" and card["score_head"] == choice["chosen"] and card["steps"] == 3
    back = TransformerStudent.load(tmp_path / "tr", device="cpu")
    a = student.predict(held.text, held.context)
    b = back.predict(held.text, held.context)
    assert np.allclose(a.document_type_scores, b.document_type_scores, atol=1e-5)
    assert np.allclose(a.educational_score, b.educational_score, atol=1e-4)
    assert np.allclose(b.domain_scores.sum(axis=1), 1.0, atol=1e-5)
    assert np.all((b.educational_score >= 1) & (b.educational_score <= 5))
    assert len(back.predict(held.text[:5])) == 5  # no context columns


@pytest.mark.slow  # minutes of CPU training: not in the fast tier
def test_distilled_student_end_to_end_tiny(tmp_path, reference_labels):
    """A tiny transformer per fold labels an unlabelled pool (soft targets), the linear student
    learns from gold + those; both are evaluated by grouped CV side by side and saved."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    from classifiers.students import load_student, resolve_student_dir
    from jobs.train import train_students

    table = pj.read_json(reference_labels)
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(reference_labels.read_text().splitlines(keepends=True)[:300]))
    pool = tmp_path / "pool.parquet"
    texts = table["text"].slice(250, 150)  # 50 labelled texts (held out in some fold) + 100 others
    pq.write_table(pa.table({"text": texts, "section": table["section"].slice(250, 150)}), pool)
    cfg = test_config(**TINY_TRANSFORMER, **{"train.cv_folds": 2, "train.linear.max_iter": 30})
    report = train_students(None, RunDir(tmp_path / "run"), cfg, labels=str(labels), student="distilled",
                       unlabelled=str(pool))
    assert [r["student"] for r in report["table"]] == ["transformer", "distilled"]  # side by side
    taught = report["students"]["distilled"]["taught"]
    assert taught["n_gold"] == 300 and 120 <= taught["n_pool"] <= 150 and taught["targets"].endswith("(soft)")
    assert report["students"]["distilled"]["cv"]["type_f1"]["mean"] > 0.3
    s = load_student(resolve_student_dir(tmp_path / "run" / "model", "distilled"))
    assert s.kind == "linear" and s.meta["n_soft_targets"]["document_type"] == taught["n_pool"]
    assert len(s.predict(["The patient, a 54-year-old man, presented with fever."])) == 1


def test_fold_pool_never_holds_a_text_the_fold_holds_out(reference_labels):
    from classifiers.dataset import Examples, examples_from_table, read_table
    from classifiers.labels import ws_hash
    from classifiers.training import Trainer

    ex, _ = examples_from_table(read_table(reference_labels))
    pool_texts = ex.text[:50] + ["An unlabelled paragraph about soil carbon."]
    pool = Examples(text=pool_texts, key=[ws_hash(t) for t in pool_texts])
    trainer = Trainer(test_config().train, pool, ex.text)
    fold_train = ex.take(list(range(25, 3000)))  # rows 0-24 are this fold's held-out rows
    kept = trainer._fold_pool(fold_train).text
    only_held = {ws_hash(t) for t in ex.text[:25]} - {ws_hash(t) for t in fold_train.text}
    assert len(only_held) >= 20
    assert {ws_hash(t) for t in kept} == {ws_hash(t) for t in pool_texts} - only_held
    assert pool_texts[-1] in kept and len(kept) < 30


def test_fold_pool_drops_the_held_out_articles_other_paragraphs(reference_labels):
    """Strict by article: a pool paragraph from a held-out article (matched by file name between the
    pool's source path and the label file's source) is dropped too, unless the option is off."""
    from classifiers.dataset import Examples, examples_from_table, read_table
    from classifiers.labels import ws_hash
    from classifiers.training import Trainer

    ex, _ = examples_from_table(read_table(reference_labels))
    held_source = ex.group[0]  # e.g. "elife00007.xml#0"
    fold_train = ex.take([i for i, g in enumerate(ex.group) if g != held_source])
    other_source = fold_train.group[0]
    texts = ["An unlabelled paragraph of the held-out article.", "An unlabelled paragraph of a training article."]
    pool = Examples(text=texts, key=[ws_hash(t) for t in texts],
                    group=[f"jats-other/x/{held_source.split('#')[0]}", f"pkg.tar.gz::{other_source.split('#')[0]}"])
    strict = Trainer(test_config().train, pool, ex.text, ex.group)._fold_pool(fold_train)
    assert strict.text == texts[1:]
    loose = Trainer(test_config(**{"train.distill.exclude_heldout_articles": False}).train, pool, ex.text,
                    ex.group)._fold_pool(fold_train)
    assert loose.text == texts
