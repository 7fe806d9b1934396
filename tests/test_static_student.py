"""The static (Model2Vec) student on the real reference labels: distilled from the local MiniLM
checkpoint (only the tokens of the training texts, so distillation takes seconds), trained on one
grouped fold, scored on its held-out articles (no Spark, no download)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("model2vec.distill", reason="model2vec (with torch, transformers, skeletoken) not installed")

from classifiers.crossval import evaluate_predictions, grouped_folds, headline  # noqa: E402
from classifiers.dataset import Examples, examples_from_table, read_table  # noqa: E402
from classifiers.static_student import StaticStudent  # noqa: E402

CONTEXT = ("section", "article_type")
# Small distilled vocabulary + fewer L-BFGS steps: the test stays well under 30 s.
FAST = {"vocabulary": "training", "max_iter": 80, "distil_threads": 1, "distil_device": "cpu"}


@pytest.fixture(scope="module")
def fold(reference_labels) -> tuple[Examples, Examples]:
    ref, _ = examples_from_table(read_table(reference_labels))
    folds, _ = grouped_folds(ref, 5, seed=0)
    tr, te = folds[0]
    return ref.take(tr[::2]), ref.take(te)  # half the training articles' rows: faster, still by article


@pytest.fixture(scope="module")
def embedding_only(fold) -> StaticStudent:
    train, _ = fold
    return StaticStudent.train(train, {**FAST, "ngrams": False}, CONTEXT)


def test_static_vectors_alone_predict_held_out_articles(fold, embedding_only):
    # Without n-grams, everything the heads see is the distilled paragraph vector. Measured on this
    # fold: 0.576 / 0.710 / 0.488; with the word table's vectors shuffled between words (a random
    # bag-of-words projection) 0.469 / 0.529 / 0.604, and all-zero vectors are chance.
    _, test = fold
    h = headline(evaluate_predictions(embedding_only.predict(test.text, test.context), test))
    assert h["type_f1"] >= 0.52 and h["domain_f1"] >= 0.62 and h["score_mae"] <= 0.55, h
    assert embedding_only.meta["static_dims"] == 256 and embedding_only.meta["words"] > 1000


def test_paragraph_vectors_are_model2vec_means_over_known_words(fold, embedding_only):
    # The word-table shortcut computes StaticModel.encode's mean (up to punctuation tokens and
    # words outside the word list): on a text made only of listed words, the same vector.
    model = embedding_only
    text = " ".join(model.table.words[100:140])
    ours = model.table.mean_vectors(model.features.word_counts(model.features.words([text])))[0]
    ref = model.static.encode([text], max_length=None, use_multiprocessing=False)[0].astype(np.float32)
    assert np.dot(ours, ref / np.linalg.norm(ref)) > 0.999


def test_static_student_with_ngrams_round_trips_offline(fold, tmp_path, monkeypatch):
    train, test = fold
    model = StaticStudent.train(train, FAST, CONTEXT)
    a = model.predict(test.text, test.context)
    h = headline(evaluate_predictions(a, test))
    assert h["type_f1"] >= 0.52 and h["domain_f1"] >= 0.65 and h["score_mae"] <= 0.45, h  # measured 0.571 / 0.765 / 0.382
    for scores in (a.document_type_scores, a.domain_scores, a.score_probs):
        assert np.allclose(scores.sum(axis=1), 1, atol=1e-5)
    assert np.all((a.educational_score >= 1) & (a.educational_score <= 5))

    model.save(tmp_path / "static", extra={"student": "static"})
    card = json.loads((tmp_path / "static" / "student.json").read_text())
    assert card["kind"] == "static" and card["version"].startswith("static-") and card["version"] == model.version
    # Self-contained: loading reads the student folder only (no encoder, no Hub).
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("classifiers.static_student.encoder_folder", lambda *_: pytest.fail("encoder read on load"))
    back = StaticStudent.load(tmp_path / "static")
    b = back.predict(test.text, test.context)
    assert np.array_equal(a.document_type_scores, b.document_type_scores)
    assert np.array_equal(a.domain_scores, b.domain_scores)
    assert np.array_equal(a.educational_score, b.educational_score)
    assert len(back.predict(test.text[:3])) == 3  # without context columns
    assert len(back.predict([])) == 0
