"""Calibration levers (classifiers/calibration.py): temperature, per-class thresholds, score maps,
the calibrated student's save / load, and a real calibrated fit on the reference labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifiers.calibration import (Calibration, CalibratedStudent, apply_score_cuts, apply_score_map,
                                     average_predictions, fit_offsets, fit_score_cuts, fit_score_map,
                                     fit_temperature, macro_f1_indices, nll, softmax)
from classifiers.crossval import expected_calibration_error
from classifiers.dataset import Examples
from classifiers.heads import DOCUMENT_TYPE, DOMAIN
from classifiers.predictions import Predictions


def _overconfident(n: int = 4000, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gold drawn from softmax(z); the 'student' reports softmax(3 z): right ranking, overconfident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    true = softmax(z)
    gold = np.array([rng.choice(k, p=p) for p in true])
    return softmax(3.0 * z), gold


def test_temperature_lowers_nll_and_ece_of_an_overconfident_head():
    probs, gold = _overconfident()
    t = fit_temperature(probs, gold)
    assert 2.4 < t < 3.6  # the sharpening factor is recovered
    tempered = softmax(np.log(probs) / t)
    assert nll(tempered, gold) < nll(probs, gold) - 0.1
    classes = DOCUMENT_TYPE.classes
    truth = [classes[i] for i in gold]
    assert expected_calibration_error(tempered, truth, classes) < 0.5 * expected_calibration_error(probs, truth, classes)
    assert (tempered.argmax(1) == probs.argmax(1)).all()  # decisions unchanged


def test_thresholds_raise_macro_f1_when_a_class_is_under_predicted():
    rng = np.random.default_rng(1)
    n = 3000
    gold = rng.choice(3, size=n, p=[0.05, 0.6, 0.35])
    logits = rng.normal(scale=0.5, size=(n, 3))
    logits[np.arange(n), gold] += 1.0
    logits[:, 0] -= 1.5  # class 0 is rare and its scores are biased down: rarely predicted
    before = macro_f1_indices(gold, logits.argmax(1), 3)
    offsets = fit_offsets(logits, gold, 3)
    after = macro_f1_indices(gold, (logits + offsets).argmax(1), 3)
    assert offsets[1] == 0.0  # the most frequent class is the anchor
    assert offsets[0] > 0.5 and after > before + 0.05
    assert np.array_equal(fit_offsets(logits, gold, 3), offsets)  # deterministic


def test_isotonic_map_is_monotone_and_clipped_and_ordinal_cuts_lower_mae():
    rng = np.random.default_rng(2)
    gold = rng.integers(1, 6, size=2000).astype(float)
    predicted = np.clip(0.6 * gold + 1.2 + rng.normal(scale=0.4, size=2000), 0.5, 6.0)  # compressed
    smap = fit_score_map(predicted, gold)
    grid = np.linspace(-10, 10, 2001)
    mapped = apply_score_map(smap, grid)
    assert np.all(np.diff(mapped) >= -1e-12) and mapped.min() >= 1.0 and mapped.max() <= 5.0
    assert np.abs(apply_score_map(smap, predicted) - gold).mean() < np.abs(predicted - gold).mean()
    cuts = fit_score_cuts(predicted, gold)
    assert np.all(np.diff(cuts) >= 0)
    assert np.abs(apply_score_cuts(cuts, predicted) - gold).mean() < np.abs(apply_score_cuts(
        [1.5, 2.5, 3.5, 4.5], predicted) - gold).mean()


def _preds_and_truth(n: int = 600, seed: int = 3) -> tuple[Predictions, Examples]:
    rng = np.random.default_rng(seed)
    t, _ = _overconfident(n, 4, seed)
    d, _ = _overconfident(n, 3, seed + 1)
    sp = softmax(rng.normal(size=(n, 5)))
    from classifiers.predictions import expected_score

    preds = Predictions(t.astype(np.float32), d.astype(np.float32), expected_score(sp.astype(np.float32)),
                        sp.astype(np.float32))
    truth = Examples(text=[f"t{i}" for i in range(n)],
                     labels={"document_type": [DOCUMENT_TYPE.classes[i] for i in rng.integers(0, 4, n)],
                             "domain": [DOMAIN.classes[i] for i in rng.integers(0, 3, n)],
                             "educational_score": [str(v) for v in rng.integers(1, 6, n)]},
                     key=[f"k{i}" for i in range(n)])
    return preds, truth


def test_calibration_json_round_trip_and_levers_are_checked():
    preds, truth = _preds_and_truth()
    cal = Calibration.fit(preds, truth, ["temperature", "thresholds", "isotonic"])
    back = Calibration.from_json(cal.to_json())
    a, b = cal.apply(preds), back.apply(preds)
    for x, y in ((a.document_type_scores, b.document_type_scores), (a.domain_scores, b.domain_scores),
                 (a.educational_score, b.educational_score)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(a.document_type_scores.sum(1), 1.0, atol=1e-5)
    assert Calibration.fit(preds, truth, []).apply(preds).document_type_scores is preds.document_type_scores
    with pytest.raises(ValueError):
        Calibration.fit(preds, truth, ["isotonic", "ordinal"])
    with pytest.raises(ValueError):
        Calibration.fit(preds, truth, ["platt"])
    avg = average_predictions([preds, cal.apply(preds)])
    np.testing.assert_allclose(avg.domain_scores, (preds.domain_scores + a.domain_scores) / 2, atol=1e-6)


@pytest.fixture(scope="module")
def ref_subset(reference_labels):
    """~900 reference rows from whole articles (every 3rd article), so inner folds stay grouped."""
    from classifiers.labels import load_labels

    ex, _ = load_labels(None, str(reference_labels))
    articles = sorted(set(ex.group))
    keep = set(articles[::3])
    return ex.take([i for i, g in enumerate(ex.group) if g in keep])


@pytest.mark.parametrize("student", ["fasttext", "linear"])
def test_calibrated_student_trains_saves_and_reloads_through_load_student(student, ref_subset, tmp_path):
    from classifiers.students import load_student
    from classifiers.training import Trainer
    from pipeline.config import PipelineConfig, apply_overrides

    cfg = apply_overrides(PipelineConfig(), {"train.calibration": ["temperature", "thresholds", "ordinal"],
                                             "train.fasttext.epoch": 10, "train.linear.max_iter": 40})
    model = Trainer(cfg.train).fit(student, ref_subset, "final")
    assert isinstance(model, CalibratedStudent) and model.kind == student
    cal = model.calibration
    assert set(cal.temperature) == {"document_type", "domain"} and len(cal.score_cuts) == 4
    assert set(cal.offsets) == {"domain"}  # train.calibration_threshold_heads' default
    fitted = cal.fitted_on
    assert fitted["inner_folds"] == 3 and fitted["n_rows"] == len(ref_subset)
    assert fitted["domain"]["after"]["macro_f1"] >= fitted["domain"]["before"]["macro_f1"]

    texts, ctx = ref_subset.text[:200], {k: v[:200] for k, v in ref_subset.context.items()}
    calibrated, base = model.predict(texts, ctx), model.base.predict(texts, ctx)
    assert not np.allclose(calibrated.domain_scores, base.domain_scores)
    assert set(np.unique(calibrated.educational_score)) <= {1.0, 2.0, 3.0, 4.0, 5.0}

    model.save(tmp_path / student, extra={"student": student})
    card = json.loads((tmp_path / student / "student.json").read_text())
    assert card["version"] == model.version and "+cal-" in card["version"]
    assert card["calibration"]["levers"] == ["temperature", "thresholds", "ordinal"]
    assert (tmp_path / student / "calibration.json").exists()
    loaded = load_student(tmp_path / student)
    assert isinstance(loaded, CalibratedStudent) and loaded.version == model.version
    again = loaded.predict(texts, ctx)
    np.testing.assert_allclose(again.document_type_scores, calibrated.document_type_scores, atol=1e-6)
    np.testing.assert_allclose(again.domain_scores, calibrated.domain_scores, atol=1e-6)
    np.testing.assert_array_equal(again.educational_score, calibrated.educational_score)


def test_calibration_config_per_student_and_list_shorthand():
    from pipeline.config import PipelineConfig, apply_overrides

    default = PipelineConfig().train
    assert default.calibration == {"fasttext": ["temperature", "thresholds"], "linear": ["thresholds"],
                                   "static": ["temperature", "thresholds"]}
    assert default.calibration_threshold_heads == ["domain"]
    off = apply_overrides(PipelineConfig(), {"train.calibration": []}).train
    assert off.calibration == {"fasttext": [], "linear": [], "static": []}
    both = apply_overrides(PipelineConfig(), {"train.calibration": ["ordinal"]}).train
    assert both.calibration == {"fasttext": ["ordinal"], "linear": ["ordinal"], "static": ["ordinal"]}


def test_length_token_is_a_context_feature_that_needs_no_column(ref_subset, tmp_path):
    from classifiers.features import length_token
    from classifiers.linear_student import LinearStudent, student_lines
    from classifiers.students import load_student

    assert length_token("") == "__len_0" and length_token("w " * 300) == "__len_5"
    lines = student_lines(["one two three"], None, ["section", "length"])
    assert lines == ["__len_0 one two three"]
    # Rows shown without context (dropout) keep the length token: it exists at inference too.
    sub = ref_subset.take(list(range(300)))
    dropped = student_lines(sub.text, sub.context, ["section", "length"], sub.key, dropout=1.0)
    assert all(line.startswith("__len_") for line in dropped)
    model = LinearStudent.train(sub, {"max_iter": 20}, ["section", "article_type", "length"], 0.25, 0)
    assert "length" in model.context_features
    model.save(tmp_path / "lin")
    loaded = load_student(tmp_path / "lin")
    assert loaded.context_features == model.context_features
    np.testing.assert_allclose(loaded.predict(sub.text[:50]).domain_scores, model.predict(sub.text[:50]).domain_scores,
                               atol=1e-6)


def test_crossfit_scores_each_fold_without_its_own_labels(ref_subset):
    """Cross-fitted calibration (train's default): fold k's calibrated predictions do not move when
    fold k's labels change, and do move when another fold's labels change; the final calibration
    is fitted on every out-of-fold row."""
    from classifiers.calibration import crossfit
    from classifiers.crossval import grouped_folds

    folds, _ = grouped_folds(ref_subset, 3, seed=0)
    rng = np.random.default_rng(0)
    preds = []
    for _, te in folds:  # noisy "student" probabilities near the gold domain
        gold = np.array([DOMAIN.classes.index(ref_subset.labels["domain"][i]) for i in te])
        dom = softmax(rng.normal(size=(len(te), 3)) + 1.5 * np.eye(3)[gold])
        typ = softmax(rng.normal(size=(len(te), 4)))
        preds.append(Predictions(typ.astype(np.float32), dom.astype(np.float32), np.full(len(te), 3.0, np.float32)))
    levers = ["temperature", "thresholds"]
    calibrated, final = crossfit(ref_subset, folds, preds, levers)
    assert final.fitted_on["n_rows"] == sum(len(te) for _, te in folds) and final.fitted_on["mode"] == "crossfit"

    def relabel(fold: int) -> Examples:
        labels = {k: list(v) for k, v in ref_subset.labels.items()}
        for i in folds[fold][1]:
            labels["domain"][i] = "clinical"
        return Examples(text=ref_subset.text, labels=labels, context=ref_subset.context, key=ref_subset.key,
                        group=ref_subset.group)

    own, _ = crossfit(relabel(0), folds, preds, levers)
    other, _ = crossfit(relabel(1), folds, preds, levers)
    np.testing.assert_array_equal(own[0].domain_scores, calibrated[0].domain_scores)  # its labels unused
    assert not np.array_equal(other[0].domain_scores, calibrated[0].domain_scores)  # the others' are used


def test_train_calibrates_from_the_outer_folds_and_saves_it(tmp_path, reference_labels):
    """`train` (crossfit, the default): the saved students carry calibration.json, their card and
    the model card record it, and the version names it."""
    from stagetools import config_for, figures

    from classifiers.students import load_student
    from pipeline.config import apply_overrides, PipelineConfig
    from pipeline.rundir import RunDir

    run = RunDir(tmp_path / "run")
    cfg = apply_overrides(PipelineConfig(), {"train.cv_folds": 3, "train.learning_curve": False,
                                             "train.fasttext.epoch": 10, "train.linear.max_iter": 40})
    report = figures("train", None, config_for(run, cfg, train__labels=str(reference_labels)))
    card = json.loads((run.table("model") / "model_card.json").read_text())
    for name, levers in (("fasttext", ["temperature", "thresholds"]), ("linear", ["thresholds"])):
        entry = card["students"][name]
        assert entry["calibration"]["levers"] == levers and entry["calibration"]["fitted_on"]["mode"] == "crossfit"
        assert "+cal-" in entry["version"] and report["students"][name]["version"] == entry["version"]
        model = load_student(run.table("model") / name)
        assert isinstance(model, CalibratedStudent) and model.version == entry["version"]
