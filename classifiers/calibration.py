"""Post-hoc calibration of a student's heads, fitted on out-of-fold predictions of its training rows.

Three levers, each optional (``train.calibration``, a list of them):

* ``temperature``: one temperature per class head (document_type, domain), minimising the negative
  log-likelihood of the gold labels: probabilities become softmax(log p / T). Argmax unchanged;
  what it buys is calibration (expected calibration error, ECE).
* ``thresholds``: per-class additive offsets on the (tempered) log-probabilities of document_type
  and domain, chosen by a deterministic coordinate search over a small grid to maximise macro-F1:
  a class the student under-predicts (clinical_case) gets a lower bar. Changes decisions.
* ``isotonic``: a monotone map (scikit-learn ``IsotonicRegression``) from the predicted expected
  score to the gold score, clipped to [1, 5]. It fits the conditional *mean* (squared error), so
  it need not lower the MAE.
* ``ordinal``: four cut points on the expected score, chosen to minimise the MAE, map it to an
  integer score 1..5 (the conditional median is what minimises an absolute error). Exclusive with
  ``isotonic``. Both leave ``score_probs`` as predicted.

Never fitted on the rows it is scored on. ``train`` by default (``calibration_mode: crossfit``)
uses its grouped CV's out-of-fold predictions: ``crossfit`` scores each outer fold through levers
fitted on the other folds, at no extra fit. ``nested``: ``out_of_fold_predictions`` runs an inner
grouped k-fold over the training rows only and ``calibrate`` fits the final student on all of them.
Either way the student is saved with its calibration (``CalibratedStudent``: the base student's
folder + ``calibration.json``, which ``students.load_student`` applies).
Pure NumPy / scikit-learn: no Spark, no torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.dataset import Examples
from classifiers.heads import DOCUMENT_TYPE, DOMAIN, EDUCATIONAL_SCORE, Head
from classifiers.predictions import Predictions, expected_score

log = logging.getLogger(__name__)

LEVERS = ("temperature", "thresholds", "isotonic", "ordinal")
CLASS_HEADS: tuple[Head, ...] = (DOCUMENT_TYPE, DOMAIN)
CALIBRATION_FILE = "calibration.json"
# Offsets tried per class (log-probability units) and coordinate-search rounds: small and fixed,
# so the search is deterministic and cannot chase single rows far.
OFFSET_GRID = np.round(np.arange(-3.0, 3.0001, 0.25), 2)
SEARCH_ROUNDS = 3
_EPS = 1e-12


# ---- the calibration ---------------------------------------------------------------------------
@dataclass
class Calibration:
    levers: tuple[str, ...] = ()
    temperature: dict[str, float] = field(default_factory=dict)  # head → T (absent: 1)
    offsets: dict[str, list[float]] = field(default_factory=dict)  # head → per-class log offsets
    score_map: dict[str, list[float]] | None = None  # isotonic knots {"x": [...], "y": [...]}
    score_cuts: list[float] | None = None  # ordinal cut points (4, increasing)
    fitted_on: dict[str, Any] = field(default_factory=dict)  # rows, folds, OOF figures before/after

    @classmethod
    def fit(cls, oof: Predictions, truth: Examples, levers: Sequence[str],
            threshold_heads: Sequence[str] = ("document_type", "domain")) -> "Calibration":
        """Fit the asked levers on out-of-fold predictions ``oof`` of the rows ``truth``;
        ``threshold_heads``: the class heads the ``thresholds`` lever tunes."""
        unknown = set(levers) - set(LEVERS)
        if unknown:
            raise ValueError(f"unknown calibration levers {sorted(unknown)}; expected some of {LEVERS}")
        if {"isotonic", "ordinal"} <= set(levers):
            raise ValueError("the isotonic and ordinal score maps are alternatives: choose one")
        cal = cls(levers=tuple(lv for lv in LEVERS if lv in levers))
        for head in CLASS_HEADS:
            scores = _head_scores(oof, head)
            gold = _gold_index(truth, head)
            if "temperature" in cal.levers:
                cal.temperature[head.name] = fit_temperature(scores, gold)
            if "thresholds" in cal.levers and head.name in threshold_heads:
                logits = np.log(np.maximum(scores, _EPS)) / cal.temperature.get(head.name, 1.0)
                cal.offsets[head.name] = fit_offsets(logits, gold, len(head.classes)).tolist()
        if "isotonic" in cal.levers:
            cal.score_map = fit_score_map(_expected(oof), _gold_score(truth))
        if "ordinal" in cal.levers:
            cal.score_cuts = fit_score_cuts(_expected(oof), _gold_score(truth)).tolist()
        cal.fitted_on = {"n_rows": len(truth), **cal.oof_figures(oof, truth)}
        return cal

    def apply(self, preds: Predictions) -> Predictions:
        """The calibrated predictions (a new object; ``preds`` is not changed)."""
        heads = {}
        for head in CLASS_HEADS:
            scores = _head_scores(preds, head)
            t = self.temperature.get(head.name, 1.0)
            off = self.offsets.get(head.name)
            if t == 1.0 and off is None:
                heads[head.name] = scores
                continue
            logits = np.log(np.maximum(scores, _EPS)) / t
            if off is not None:
                logits = logits + np.asarray(off)
            heads[head.name] = softmax(logits).astype(np.float32)
        score = preds.educational_score
        if self.score_map is not None:
            score = apply_score_map(self.score_map, _expected(preds)).astype(np.float32)
        elif self.score_cuts is not None:
            score = apply_score_cuts(self.score_cuts, _expected(preds)).astype(np.float32)
        return Predictions(heads[DOCUMENT_TYPE.name], heads[DOMAIN.name], score, preds.score_probs)

    def oof_figures(self, oof: Predictions, truth: Examples) -> dict[str, Any]:
        """ECE / NLL / macro-F1 per class head and score MAE on the OOF rows, before and after
        (in-sample for the calibration: the honest figures are the outer folds')."""
        from classifiers.crossval import expected_calibration_error
        from classifiers.metrics import classification_metrics

        after = self.apply(oof)
        out: dict[str, Any] = {}
        for head in CLASS_HEADS:
            gold = truth.labels[head.name]
            idx = _gold_index(truth, head)
            for tag, p in (("before", _head_scores(oof, head)), ("after", _head_scores(after, head))):
                pred = [head.classes[i] for i in p.argmax(axis=1)]
                out.setdefault(head.name, {})[tag] = {
                    "ece": round(expected_calibration_error(p, gold, head.classes), 4),
                    "nll": round(nll(p, idx), 4),
                    "macro_f1": round(classification_metrics(gold, pred, head.classes)["macro_f1"], 4)}
        gold_score = _gold_score(truth)
        out[EDUCATIONAL_SCORE.name] = {
            "before": {"mae": round(float(np.abs(oof.educational_score - gold_score).mean()), 4)},
            "after": {"mae": round(float(np.abs(after.educational_score - gold_score).mean()), 4)}}
        return out

    # ---- persistence ---------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"levers": list(self.levers), "temperature": self.temperature, "offsets": self.offsets,
                           "score_map": self.score_map, "score_cuts": self.score_cuts,
                           "fitted_on": self.fitted_on}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Calibration":
        d = json.loads(text)
        return cls(levers=tuple(d.get("levers", ())), temperature={k: float(v) for k, v in d["temperature"].items()},
                   offsets={k: [float(x) for x in v] for k, v in d["offsets"].items()},
                   score_map=d.get("score_map"), score_cuts=d.get("score_cuts"), fitted_on=d.get("fitted_on", {}))

    def summary(self) -> dict[str, Any]:
        """What a student card records: the levers, their fitted values and the OOF figures."""
        return {"levers": list(self.levers), "temperature": {k: round(v, 4) for k, v in self.temperature.items()},
                "offsets": self.offsets, "isotonic_knots": len(self.score_map["x"]) if self.score_map else 0,
                "score_cuts": self.score_cuts,
                "fitted_on": self.fitted_on}


# ---- fitting each lever ------------------------------------------------------------------------
def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, gold: np.ndarray) -> float:
    """Mean negative log-likelihood of the gold class indices."""
    if len(gold) == 0:
        return 0.0
    return float(-np.log(np.maximum(probs[np.arange(len(gold)), gold], _EPS)).mean())


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> float:
    """The T in [0.05, 20] minimising the NLL of softmax(log p / T) (bounded scalar search on log T)."""
    from scipy.optimize import minimize_scalar

    if len(gold) == 0:
        return 1.0
    logp = np.log(np.maximum(probs, _EPS))
    res = minimize_scalar(lambda lt: nll(softmax(logp / np.exp(lt)), gold), bounds=(np.log(0.05), np.log(20.0)),
                          method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def macro_f1_indices(gold: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-F1 over the classes present in gold or predictions (as classification_metrics)."""
    conf = np.bincount(gold * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(conf).astype(float)
    support, predicted = conf.sum(axis=1), conf.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros(k), where=present)
    return float(f1[present].mean()) if present.any() else 0.0


def fit_offsets(logits: np.ndarray, gold: np.ndarray, k: int) -> np.ndarray:
    """Per-class additive offsets maximising macro-F1 of argmax(logits + offsets): coordinate
    search over OFFSET_GRID, the most frequent gold class fixed at 0 (argmax ignores a shared
    shift); a move is taken only when it raises macro-F1, ties go to the smaller offset."""
    offsets = np.zeros(k)
    if len(gold) == 0:
        return offsets
    anchor = int(np.bincount(gold, minlength=k).argmax())
    best = macro_f1_indices(gold, (logits + offsets).argmax(axis=1), k)
    for _ in range(SEARCH_ROUNDS):
        moved = False
        for c in (c for c in range(k) if c != anchor):
            for v in sorted(OFFSET_GRID, key=lambda x: (abs(x), x)):
                trial = offsets.copy()
                trial[c] = v
                f1 = macro_f1_indices(gold, (logits + trial).argmax(axis=1), k)
                if f1 > best + 1e-9:
                    best, offsets, moved = f1, trial, True
        if not moved:
            break
    return offsets


def fit_score_map(predicted: np.ndarray, gold: np.ndarray) -> dict[str, list[float]]:
    """Isotonic (non-decreasing) map predicted expected score → gold score, outputs in [1, 5]."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=1.0, y_max=5.0, increasing=True, out_of_bounds="clip").fit(predicted, gold)
    return {"x": iso.X_thresholds_.astype(float).tolist(), "y": iso.y_thresholds_.astype(float).tolist()}


def apply_score_map(score_map: Mapping[str, Sequence[float]], predicted: np.ndarray) -> np.ndarray:
    """IsotonicRegression.predict with out_of_bounds="clip": linear between knots, flat beyond."""
    return np.clip(np.interp(predicted, score_map["x"], score_map["y"]), 1.0, 5.0)


def fit_score_cuts(predicted: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Cut points c1 <= .. <= c4 minimising the MAE of 1 + #(score >= c_k): coordinate search over
    a 0.05 grid from the halfway points (1.5, 2.5, 3.5, 4.5), deterministic."""
    grid = np.round(np.arange(1.0, 5.0001, 0.05), 2)
    cuts = np.array([1.5, 2.5, 3.5, 4.5])

    def mae(c: np.ndarray) -> float:
        return float(np.abs(apply_score_cuts(c, predicted) - gold).mean())

    best = mae(cuts)
    for _ in range(SEARCH_ROUNDS):
        moved = False
        for k in range(len(cuts)):
            lo = cuts[k - 1] if k else 1.0
            hi = cuts[k + 1] if k + 1 < len(cuts) else 5.0
            for v in sorted(grid[(grid >= lo) & (grid <= hi)], key=lambda x: (abs(x - cuts[k]), x)):
                trial = cuts.copy()
                trial[k] = v
                m = mae(trial)
                if m < best - 1e-12:
                    best, cuts, moved = m, trial, True
        if not moved:
            break
    return cuts


def apply_score_cuts(cuts: Sequence[float], predicted: np.ndarray) -> np.ndarray:
    return 1.0 + (np.asarray(predicted)[:, None] >= np.asarray(cuts)[None, :]).sum(axis=1)


def _head_scores(preds: Predictions, head: Head) -> np.ndarray:
    return preds.document_type_scores if head is DOCUMENT_TYPE else preds.domain_scores


def _gold_index(truth: Examples, head: Head) -> np.ndarray:
    index = {c: i for i, c in enumerate(head.classes)}
    return np.asarray([index[v] for v in truth.labels[head.name]], dtype=np.int64)


def _gold_score(truth: Examples) -> np.ndarray:
    return np.asarray([float(v) for v in truth.labels[EDUCATIONAL_SCORE.name]])


def _expected(preds: Predictions) -> np.ndarray:
    return expected_score(preds.score_probs) if preds.score_probs is not None else preds.educational_score


# ---- ensembling --------------------------------------------------------------------------------
def average_predictions(parts: Sequence[Predictions]) -> Predictions:
    """The mean of several students' probabilities (score: mean 5-class distribution and its
    expected value when all have one, else the mean score)."""
    if not parts:
        raise ValueError("nothing to average")
    probs = [p.score_probs for p in parts]
    if all(p is not None for p in probs):
        sp = np.mean(probs, axis=0).astype(np.float32)
        score = expected_score(sp)
    else:
        sp, score = None, np.mean([p.educational_score for p in parts], axis=0).astype(np.float32)
    return Predictions(np.mean([p.document_type_scores for p in parts], axis=0).astype(np.float32),
                       np.mean([p.domain_scores for p in parts], axis=0).astype(np.float32), score, sp)


# ---- inner folds and the calibrated student ----------------------------------------------------
def out_of_fold_predictions(fit: Callable[[Examples], Any], train: Examples, folds: int = 3,
                            seed: int = 0, batch_size: int = 256) -> Predictions:
    """Every training row predicted by a model fitted on the other inner folds (grouped by
    article, stratified by type: ``crossval.grouped_folds``), in the rows' order."""
    from classifiers.crossval import grouped_folds

    inner, _ = grouped_folds(train, folds, seed)
    parts, order = [], []
    for tr, te in inner:
        model = fit(train.take(tr))
        held = train.take(te)
        parts.append(model.predict(held.text, held.context, batch_size=batch_size))
        order.extend(te)
    pooled = Predictions.concat(parts)
    back = np.argsort(np.asarray(order, dtype=np.int64), kind="stable")
    return Predictions(pooled.document_type_scores[back], pooled.domain_scores[back],
                       pooled.educational_score[back], None if pooled.score_probs is None else pooled.score_probs[back])


def crossfit(ex: Examples, folds: Sequence[tuple[Sequence[int], Sequence[int]]], fold_preds: Sequence[Predictions],
             levers: Sequence[str], threshold_heads: Sequence[str] = ("domain",)
             ) -> tuple[list[Predictions], Calibration]:
    """Calibration cross-fitted on the outer cross-validation, at no extra fit.

    ``fold_preds[k]``: the plain student's predictions on fold k's held-out rows. Fold k is scored
    through levers fitted on the *other* folds' rows (their out-of-fold predictions and labels):
    fold k's labels never enter the calibration it is scored with. The final student's calibration
    is fitted on every row's out-of-fold prediction. (The other folds' predictions come from models
    that trained on fold k's rows: a second-order link through a handful of parameters, which the
    nested mode, ``train.calibration_mode: nested``, avoids at calibration_folds extra fits per fit.)
    Returns (calibrated predictions per fold, the final calibration)."""
    calibrated = []
    for k in range(len(folds)):
        others = [j for j in range(len(folds)) if j != k]
        rows = [i for j in others for i in folds[j][1]]
        cal = Calibration.fit(Predictions.concat([fold_preds[j] for j in others]), ex.take(rows), levers,
                              threshold_heads)
        calibrated.append(cal.apply(fold_preds[k]))
    rows = [i for _, te in folds for i in te]
    final = Calibration.fit(Predictions.concat(list(fold_preds)), ex.take(rows), levers, threshold_heads)
    final.fitted_on.update({"mode": "crossfit", "outer_folds": len(folds)})
    return calibrated, final


def calibrate(fit: Callable[[Examples], Any], train: Examples, levers: Sequence[str], folds: int = 3,
              seed: int = 0, threshold_heads: Sequence[str] = ("document_type", "domain")) -> Any:
    """The student fitted on all of ``train`` with a calibration fitted on its inner-fold OOF
    predictions; the plain student (with a warning) when there are too few articles for the folds."""
    from classifiers.crossval import article_groups

    if not levers:
        return fit(train)
    n_groups = len(set(article_groups(train)[0].tolist()))
    if n_groups < folds:
        log.warning("calibration needs %d inner folds, the training rows come from %d articles: not calibrated",
                    folds, n_groups)
        return fit(train)
    oof = out_of_fold_predictions(fit, train, folds, seed)
    cal = Calibration.fit(oof, train, levers, threshold_heads)
    cal.fitted_on.update({"inner_folds": folds, "seed": seed})
    log.info("calibration %s on %d OOF rows: %s", list(cal.levers), len(train),
             {h.name: cal.fitted_on[h.name]["after"] for h in CLASS_HEADS})
    return CalibratedStudent(fit(train), cal)


class CalibratedStudent:
    """A student whose predictions pass through a ``Calibration``; otherwise the base student
    (kind, params, context features). Saved as the base's folder + ``calibration.json``."""

    def __init__(self, base, calibration: Calibration, version: str | None = None):
        self.base = base
        self.calibration = calibration
        self.version = version or f"{base.version}+cal"

    kind = property(lambda self: self.base.kind)
    params = property(lambda self: self.base.params)
    context_features = property(lambda self: self.base.context_features)
    meta = property(lambda self: self.base.meta)

    def __getattr__(self, name: str):
        # Anything else (fastText's ``models`` for active learning's sentence vectors, ...) is the
        # base student's; "base" itself is guarded so a half-built object cannot recurse.
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def predict(self, texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None = None,
                batch_size: int | None = None) -> Predictions:
        return self.calibration.apply(self.base.predict(texts, context, batch_size=batch_size))

    def save(self, path: str | os.PathLike[str], extra: dict | None = None) -> Path:
        """The base student's folder with the calibration attached (``attach_calibration``)."""
        path = Path(path)
        self.base.save(path, extra=extra)
        self.version = attach_calibration(path, self.calibration, self.base.version)
        self.base.meta.update({"calibration": self.calibration.summary(), "version": self.version,
                               "base_version": self.base.version})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], base) -> "CalibratedStudent":
        path = Path(path)
        card = json.loads((path / "student.json").read_text())
        return cls(base, Calibration.from_json((path / CALIBRATION_FILE).read_text()), card.get("version"))


def attach_calibration(path: str | os.PathLike[str], calibration: Calibration, base_version: str) -> str:
    """Write ``calibration.json`` beside a saved student and name it in its card (so annotations
    and the annotate stage's rerun check see it) → the calibrated version. The student's own files
    are left as they are."""
    path = Path(path)
    target = path / CALIBRATION_FILE
    target.write_text(calibration.to_json())
    version = calibrated_version(base_version, target)
    card_path = path / "student.json"
    card = json.loads(card_path.read_text())
    card.update({"calibration": calibration.summary(), "version": version, "base_version": base_version})
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True, default=str))
    return version


def calibrated_version(base_version: str, calibration_file: Path) -> str:
    return f"{base_version}+cal-{hashlib.sha1(calibration_file.read_bytes()).hexdigest()[:8]}"
