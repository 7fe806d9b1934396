"""Evaluation by article: grouped k-fold cross-validation, per-collection breakdown, learning curve.

A paragraph split puts paragraphs of one article on both sides, which flatters a student that
memorises an article's vocabulary (fastText: 0.841 type macro-F1 by paragraph, 0.761 by article).
Here every fold holds out whole articles (the label file's ``source``, or ``article_id`` for a
run's labels); articles that share a text (duplicates) are merged into one group first, so no
text is on both sides. Folds are stratified by document type (scikit-learn's
``StratifiedGroupKFold``) so the rare clinical cases spread over the folds. Pure: no Spark.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from classifiers.dataset import Examples
from classifiers.features import split_bucket
from classifiers.heads import DOCUMENT_TYPE, DOMAIN, EDUCATIONAL_SCORE
from classifiers.labels import article_key
from classifiers.metrics import classification_metrics, score_metrics
from classifiers.predictions import Predictions
from pipeline.errors import UserError

log = logging.getLogger(__name__)

# The figures a fold reports (and the learning curve follows); higher is better except MAE.
HEADLINE = ("type_f1", "clinical_case_f1", "domain_f1", "score_mae", "score_r", "type_acc", "type_kappa", "keep_f1",
            "type_ece", "domain_ece")
LOWER_IS_BETTER_EXTRA = ("type_ece", "domain_ece")
LOWER_IS_BETTER = {"score_mae"}
# How `--student auto` ranks students: the mean of these (MAE enters as 1 − MAE).
SELECTION = ("type_f1", "clinical_case_f1", "domain_f1", "score_r", "score_mae")


def evaluate_predictions(preds: Predictions, truth: Examples) -> dict:
    """The per-head agreement block (accuracy, macro-F1, κ, per-class P/R/F1 + support, confusion;
    MAE, r, ρ, keep F1) of predictions against labelled examples."""
    truth_score = [int(v) for v in truth.labels[EDUCATIONAL_SCORE.name]]
    return {
        DOCUMENT_TYPE.name: {**classification_metrics(truth.labels[DOCUMENT_TYPE.name], preds.document_type,
                                                      DOCUMENT_TYPE.classes),
                             "ece": expected_calibration_error(preds.document_type_scores,
                                                               truth.labels[DOCUMENT_TYPE.name], DOCUMENT_TYPE.classes)},
        DOMAIN.name: {**classification_metrics(truth.labels[DOMAIN.name], preds.domain, DOMAIN.classes),
                      "ece": expected_calibration_error(preds.domain_scores, truth.labels[DOMAIN.name],
                                                        DOMAIN.classes)},
        EDUCATIONAL_SCORE.name: {
            **score_metrics(truth_score, preds.educational_score),
            "as_classes": classification_metrics(truth.labels[EDUCATIONAL_SCORE.name], preds.score_class,
                                                 EDUCATIONAL_SCORE.classes),
        },
    }


def expected_calibration_error(scores: np.ndarray, truth: Sequence[str], classes: Sequence[str],
                               bins: int = 10) -> float:
    """ECE of the top-class probability: |accuracy − confidence| averaged over 10 equal-width
    confidence bins, weighted by their share of rows (0 = calibrated)."""
    if len(truth) == 0:
        return 0.0
    conf = scores.max(axis=1)
    correct = np.array([classes[i] == t for i, t in zip(scores.argmax(axis=1), truth)], dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def headline(m: dict) -> dict[str, float | None]:
    dt, dm, sc = m[DOCUMENT_TYPE.name], m[DOMAIN.name], m[EDUCATIONAL_SCORE.name]
    cc = dt["per_class"]["clinical_case"]
    return {"type_f1": dt["macro_f1"], "clinical_case_f1": cc["f1"] if cc["support"] else None,
            "domain_f1": dm["macro_f1"], "score_mae": sc["mae"], "score_r": sc["pearson"],
            "type_acc": dt["accuracy"], "type_kappa": dt["kappa"], "keep_f1": sc["keep_f1"],
            "type_ece": dt.get("ece"), "domain_ece": dm.get("ece")}


def selection_score(summary: dict) -> float:
    """One number to rank students by (grouped-CV means): mean of type F1, clinical_case F1,
    domain F1, score r and 1 − score MAE."""
    vals = []
    for k in SELECTION:
        v = summary.get(k, {}).get("mean")
        if v is None:
            continue
        vals.append(1.0 - v if k == "score_mae" else v)
    return float(np.mean(vals)) if vals else float("-inf")


# ---- folds -------------------------------------------------------------------------------------
def article_groups(ex: Examples) -> tuple[np.ndarray, str]:
    """Integer group per row (articles sharing a text merged) and how groups were formed."""
    keys = [article_key(g) for g in ex.group]  # one name per article whichever form the row gives
    if keys and all(keys):
        names, how = keys, "article"
    else:
        names, how = ex.key, "paragraph (no source / article_id column: groups unknown, optimistic)"
        if keys:
            names = [g or f"key:{k}" for g, k in zip(keys, ex.key)]
            how = "article (rows without one: own group)"
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_group_of_key: dict[str, str] = {}
    for g, k in zip(names, ex.key):
        other = first_group_of_key.setdefault(k, g)
        if other != g:
            a, b = find(g), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    roots = [find(g) for g in names]
    index = {r: i for i, r in enumerate(sorted(set(roots)))}
    return np.array([index[r] for r in roots]), how


def grouped_folds(ex: Examples, k: int = 5, seed: int = 0) -> tuple[list[tuple[list[int], list[int]]], dict]:
    """k folds that hold out whole articles, stratified by document type → (folds, description)."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups, how = article_groups(ex)
    n_groups = len(set(groups.tolist()))
    if k < 2:
        raise UserError(f"train.cv_folds must be at least 2, got {k}")
    if n_groups < k:
        raise UserError(f"grouped cross-validation needs at least {k} articles, the labels come from {n_groups}",
                        hint="label paragraphs from more articles, or lower train.cv_folds")
    y = ex.labels[DOCUMENT_TYPE.name]
    import warnings

    with warnings.catch_warnings():
        # "The least populated class has only N members": expected for clinical_case; it still spreads.
        warnings.simplefilter("ignore", UserWarning)
        split = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(ex)), y, groups)
        folds = [(sorted(tr.tolist()), sorted(te.tolist())) for tr, te in split]
    desc = {"method": f"grouped {k}-fold cross-validation (StratifiedGroupKFold by document_type)",
            "groups": how, "n_groups": n_groups, "k": k, "seed": seed,
            "fold_sizes": [len(te) for _, te in folds]}
    return folds, desc


# ---- cross-validation --------------------------------------------------------------------------
Fit = Callable[[Examples, int], object]  # (fold's training rows, fold index) → a student


def summarise(per_fold: Sequence[dict]) -> dict:
    out = {}
    for key in HEADLINE:
        vals = [f[key] for f in per_fold if f.get(key) is not None]
        out[key] = {"mean": float(np.mean(vals)) if vals else None,
                    "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
                    "folds": [None if f.get(key) is None else round(float(f[key]), 4) for f in per_fold]}
    return out


def cross_validate(ex: Examples, fits: dict[str, Fit], folds: list[tuple[list[int], list[int]]],
                   collections: Sequence[str] | None = None, batch_size: int = 256, jobs: int = 1,
                   independent: bool = False) -> dict[str, dict]:
    """Each student fitted on every fold's training rows and scored on its held-out articles.

    ``fits`` maps student name → fit function (called in the given order inside one fold, so a
    later one may reuse an earlier one's model of the same fold, e.g. a teacher). ``jobs`` > 1 runs
    the folds in that many forked processes (``classifiers.parallel``); with ``independent`` (no
    student reuses another's model) each (fold, student) fit is its own task. Returns, per
    student: per-fold headline figures, their mean and spread, the pooled out-of-fold metrics
    (per-class F1 with support) and the per-collection breakdown."""
    from classifiers.parallel import run_tasks

    outputs = run_tasks(cv_tasks(ex, fits, folds, batch_size, independent), jobs)
    return collect_cv(ex, list(fits), folds, merge_outputs(outputs), collections)


FoldOutput = dict[tuple[int, str], tuple[Predictions, float, float]]  # (fold, student) → preds, fit s, predict s


def cv_tasks(ex: Examples, fits: dict[str, Fit], folds: list[tuple[list[int], list[int]]], batch_size: int = 256,
             independent: bool = False) -> list[Callable[[], FoldOutput]]:
    """Zero-argument tasks that fit and score the folds: one per fold (students in order), or one
    per (fold, student) when ``independent``."""
    def task(fi: int, names: list[str]) -> Callable[[], FoldOutput]:
        def run() -> FoldOutput:
            train, test = ex.take(folds[fi][0]), ex.take(folds[fi][1])
            out = {}
            for name in names:
                t0 = time.time()
                model = fits[name](train, fi)
                t1 = time.time()
                preds = model.predict(test.text, test.context, batch_size=batch_size)
                out[(fi, name)] = (preds, t1 - t0, time.time() - t1)
            return out
        return run

    if independent:
        return [task(fi, [name]) for fi in range(len(folds)) for name in fits]
    return [task(fi, list(fits)) for fi in range(len(folds))]


def merge_outputs(outputs: Sequence[FoldOutput]) -> FoldOutput:
    return {key: value for out in outputs for key, value in out.items()}


def collect_cv(ex: Examples, names: Sequence[str], folds: list[tuple[list[int], list[int]]], done: FoldOutput,
               collections: Sequence[str] | None = None,
               predictions: dict[str, list[Predictions]] | None = None) -> dict[str, dict]:
    """The figures of ``cross_validate`` from its tasks' merged outputs ``done``. ``predictions``:
    per student, per-fold predictions to score instead of the fits' own (e.g. calibrated ones)."""
    tests = [ex.take(te) for _, te in folds]
    order = np.concatenate([np.asarray(te, dtype=np.int64) for _, te in folds])
    truth = ex.take(order.tolist())
    results = {}
    for name in names:
        oof = (predictions or {}).get(name) or [done[(fi, name)][0] for fi in range(len(folds))]
        per_fold = []
        seconds = {"fit": 0.0, "predict": 0.0, "rows_predicted": 0}
        for fi, test in enumerate(tests):
            _, fit_s, predict_s = done[(fi, name)]
            seconds["fit"] += fit_s
            seconds["predict"] += predict_s
            seconds["rows_predicted"] += len(test)
            h = headline(evaluate_predictions(oof[fi], test))
            per_fold.append(h)
            log.info("cv %s fold %d/%d: type F1 %.3f, clinical_case F1 %s, domain F1 %.3f, MAE %.3f (%.0fs)",
                     name, fi + 1, len(folds), h["type_f1"],
                     "-" if h["clinical_case_f1"] is None else f"{h['clinical_case_f1']:.3f}", h["domain_f1"],
                     h["score_mae"], fit_s)
        pooled_preds = Predictions.concat(oof)
        res = {"summary": summarise(per_fold), "pooled": evaluate_predictions(pooled_preds, truth),
               "seconds": {k: round(v, 2) for k, v in seconds.items()}}
        res["selection_score"] = selection_score(res["summary"])
        if collections is not None:
            res["by_collection"] = by_collection(pooled_preds, truth, [collections[i] for i in order])
        results[name] = res
    return results


def by_collection(preds: Predictions, truth: Examples, labels: Sequence[str]) -> dict[str, dict]:
    """Pooled out-of-fold headline figures restricted to each collection's rows."""
    out = {}
    for c in sorted(set(labels)):
        idx = [i for i, v in enumerate(labels) if v == c]
        sub = Predictions(preds.document_type_scores[idx], preds.domain_scores[idx], preds.educational_score[idx],
                          None if preds.score_probs is None else preds.score_probs[idx])
        out[c] = {"n": len(idx), **headline(evaluate_predictions(sub, truth.take(idx)))}
    return out


# ---- learning curve ----------------------------------------------------------------------------
def learning_curve(ex: Examples, fit: Fit, folds: list[tuple[list[int], list[int]]],
                   fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0), seed: int = 0,
                   full: dict | None = None, batch_size: int = 256, jobs: int = 1) -> dict:
    """Grouped-CV figures when each fold trains on a share of its training articles (nested
    subsets, by article hash), the test folds unchanged; a power law fitted per figure and its
    value at 10× the labels, marked as an extrapolation. ``full``: the 100 % result already
    computed (its per-fold figures), to avoid fitting it again. ``jobs``: forked processes."""
    from classifiers.parallel import run_tasks

    groups, _ = article_groups(ex)
    subsets = {}  # (fraction, fold) → training rows kept
    for frac in fractions:
        if frac >= 1.0 and full is not None:
            continue
        for fi, (tr, _) in enumerate(folds):
            kept = [i for i in tr if split_bucket(str(groups[i]), seed + 101) < frac]
            if kept:
                subsets[(frac, fi)] = kept

    def task(kept: list[int], fi: int) -> Callable[[], dict]:
        def run() -> dict:
            test = ex.take(folds[fi][1])
            model = fit(ex.take(kept), fi)
            return headline(evaluate_predictions(model.predict(test.text, test.context, batch_size=batch_size), test))
        return run

    figures = dict(zip(subsets, run_tasks([task(kept, fi) for (_, fi), kept in subsets.items()], jobs)))
    points = []
    for frac in fractions:
        if frac >= 1.0 and full is not None:
            sizes = [len(tr) for tr, _ in folds]
            points.append({"fraction": 1.0, "n_labels": float(np.mean(sizes)),
                           **{k: v["mean"] for k, v in full.items()}})
            continue
        keys = [k for k in subsets if k[0] == frac]
        s = summarise([figures[k] for k in keys])
        sizes = [len(subsets[k]) for k in keys]
        points.append({"fraction": frac, "n_labels": float(np.mean(sizes)) if sizes else 0.0,
                       **{k: v["mean"] for k, v in s.items()}})
        log.info("learning curve %.0f%% (%d labels): %s", 100 * frac, points[-1]["n_labels"],
                 {k: round(points[-1][k], 3) for k in ("type_f1", "domain_f1", "score_mae") if points[-1][k] is not None})
    fits = {k: power_law(points, k) for k in HEADLINE if k not in ("type_kappa", "type_acc", *LOWER_IS_BETTER_EXTRA)}
    return {"points": points, "power_law": fits,
            "note": "at_10x is an EXTRAPOLATION of a power law fitted to 4 points, not a measurement"}


def power_law(points: Sequence[dict], key: str) -> dict | None:
    """Fit error(n) = a · n^(−b) in log-log space (error = MAE, or 1 − figure) → a, b and the
    extrapolated figure at 10× the largest n."""
    xs, es = [], []
    for p in points:
        v = p.get(key)
        if v is None or p["n_labels"] <= 0:
            continue
        e = v if key in LOWER_IS_BETTER else 1.0 - v
        if e <= 0:
            continue
        xs.append(math.log(p["n_labels"]))
        es.append(math.log(e))
    if len(xs) < 3:
        return None
    slope, intercept = np.polyfit(xs, es, 1)
    n10 = 10 * math.exp(max(xs))
    e10 = math.exp(intercept + slope * math.log(n10))
    value = e10 if key in LOWER_IS_BETTER else 1.0 - e10
    return {"a": float(math.exp(intercept)), "b": float(-slope), "n_at_10x": round(n10),
            "at_10x_extrapolated": float(value)}
