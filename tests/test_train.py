"""`train` end to end on the real reference labels: fastText, a tiny CPU transformer, the cascade."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from pipeline.config import PipelineConfig
from pipeline.rundir import RunDir

FAST_SETS = {"train.fasttext.epoch": 15, "train.fasttext.bucket": 50_000}
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
    from jobs.train import run_train

    root = tmp_path_factory.mktemp("distill") / "run"
    labels = root.parent / "reference-labels.jsonl"
    shutil.copy(reference_labels, labels)
    report = run_train(None, RunDir(root), test_config(), labels=str(labels), student="fasttext")
    return RunDir(root), report, labels


def test_train_fasttext_writes_model_card_metrics_and_report(trained_run):
    run, report, labels = trained_run
    card = json.loads((run.table("model") / "model_card.json").read_text())
    assert run.is_complete("model")
    assert card["label_hash"] == hashlib.sha1(labels.read_bytes()).hexdigest()
    assert card["labeller"] == ["import:reference-labels.jsonl"] and card["prompt_version"] == ["unknown"]
    assert card["n_used"] == 3000 and card["default_student"] == "fasttext"
    ft = card["students"]["fasttext"]
    assert ft["hyperparameters"]["document_type"]["epoch"] == 15
    assert ft["features"]["context"] == ["section", "article_type"]  # zone: not in the label file
    assert card["split"]["heldout"] == pytest.approx(600, abs=10)
    m = report["students"]["fasttext"]["metrics"]
    assert m["document_type"]["macro_f1"] >= 0.74 and m["document_type"]["kappa"] >= 0.7
    assert m["domain"]["macro_f1"] >= 0.77
    assert m["educational_score"]["mae"] <= 0.40 and m["educational_score"]["keep_f1"] >= 0.5
    assert set(m["document_type"]["per_class"]) == {"clinical_case", "study", "review", "other"}
    assert np.array(m["domain"]["confusion"]["matrix"]).sum() == card["split"]["heldout"]
    saved = json.loads(run.report("train").read_text())
    assert saved["table"][0]["student"] == "fasttext" and saved["paper_student"]["document_type"]["macro_f1"] == 0.925


def test_train_rerun_is_skipped_unless_overwrite(trained_run):
    from jobs.train import run_train

    run, report, labels = trained_run
    before = (run.table("model") / "fasttext" / "student.json").read_text()
    again = run_train(None, run, test_config(), labels=str(labels), student="fasttext")
    assert again["skipped"] is True
    assert (run.table("model") / "fasttext" / "student.json").read_text() == before


def test_train_cli_prints_table_beside_paper(tmp_path, reference_labels):
    from typer.testing import CliRunner

    from pipeline.cli import app

    res = CliRunner().invoke(app, ["train", str(tmp_path / "run"), "--labels", str(reference_labels),
                                   "--set", "train.fasttext.epoch=5", "--set", "train.fasttext.bucket=20000"])
    assert res.exit_code == 0, res.output
    assert "paper (XLM-R)" in res.output and "0.925" in res.output and "fasttext" in res.output
    assert (tmp_path / "run" / "model" / "fasttext" / "document_type.bin").exists()


def test_tiny_transformer_trains_saves_reloads_and_predicts(tmp_path, reference_labels):
    from classifiers.dataset import examples_from_table, read_table, stratified_split
    from classifiers.transformer import TransformerStudent

    ex, _ = examples_from_table(read_table(reference_labels))
    tr, ho = stratified_split(ex, 0.2, seed=0)
    train, held = ex.take(tr[:64]), ex.take(ho[:24])
    student = TransformerStudent.train(train, held, params={"max_steps": 3, "batch_size": 8, "max_len": 32,
                                                            "cpu_threads": 1}, context_features=("section",),
                                       device="cpu")
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


def test_cascade_end_to_end_tiny(tmp_path, trained_run, reference_labels):
    """Transformer (tiny) pseudo-labels an unlabelled set, fastText trains on it; the cascade is
    reported beside the fastText student already in model/, and annotate-style loading works."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    from classifiers.students import load_student, resolve_student_dir
    from jobs.train import run_train

    run0, _, labels = trained_run
    run = RunDir(tmp_path / "run")
    shutil.copytree(run0.root, run.root)
    # Unlabelled paragraphs: reference texts without labels (the held-out ones must be excluded).
    table = pj.read_json(reference_labels)
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"text": table["text"].slice(0, 300), "section": table["section"].slice(0, 300)}), pool)
    cfg = test_config(**TINY_TRANSFORMER, **{"train.fasttext.epoch": 5})
    report = run_train(None, run, cfg, labels=str(labels), student="cascade", unlabelled=str(pool))
    assert [r["student"] for r in report["table"]] == ["fasttext", "cascade"]  # side by side
    casc = report["students"]["cascade"]["cascade"]
    assert 0 < casc["n_pseudo"] < 300 and casc["excluded_heldout"] > 0  # held-out texts never pseudo-labelled
    assert casc["n_pseudo"] + casc["excluded_heldout"] == 300
    assert casc["n_gold"] == report["split"]["train"]
    assert sum(casc["pseudo_label_counts"]["document_type"].values()) == casc["n_pseudo"]
    assert casc["teacher"].startswith("transformer-") or casc["teacher"] == "unsaved"
    card = json.loads((run.table("model") / "model_card.json").read_text())
    assert card["default_student"] == "cascade" and set(card["students"]) == {"fasttext", "cascade"}
    m = report["students"]["cascade"]["metrics"]
    assert m["document_type"]["accuracy"] >= 0.6 and m["educational_score"]["mae"] < 1.0
    s = load_student(resolve_student_dir(run.table("model"), "cascade"))
    assert len(s.predict(["The patient, a 54-year-old man, presented with fever."])) == 1
