"""Agreement of a student with held-out LLM labels (scikit-learn / scipy; pure, no Spark)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import (accuracy_score, cohen_kappa_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)

from classifiers.heads import KEEP_THRESHOLD

# The paper's student (XLM-R-base, Biomed-Enriched), for the side-by-side table.
PAPER_STUDENT = {
    "document_type": {"macro_f1": 0.925, "kappa": 0.821},
    "domain": {"macro_f1": 0.954},
    "educational_score": {"pearson": 0.876, "mae": 0.326},
}


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> dict:
    """accuracy, macro-F1, Cohen's κ, per-class P/R/F1/support, confusion matrix (rows = truth)."""
    labels = list(classes)
    if len(y_true) == 0:
        raise ValueError("no held-out rows to evaluate")
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    # Macro over the classes present in the truth: a class with no held-out example has no F1.
    present = [c for c in labels if c in set(y_true)]
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "kappa": _finite(cohen_kappa_score(y_true, y_pred, labels=labels)),
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, c in enumerate(labels)},
        "confusion": {"labels": labels, "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
    }


def score_metrics(y_true: Sequence[float], y_pred: Sequence[float], threshold: float = KEEP_THRESHOLD) -> dict:
    """Continuous score vs integer labels: MAE, Pearson r, Spearman ρ, keep/drop F1 at ``threshold``."""
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    if len(t) == 0:
        raise ValueError("no held-out rows to evaluate")
    keep_t, keep_p = t >= threshold, p >= threshold
    varied = len(t) > 1 and np.ptp(t) > 0 and np.ptp(p) > 0
    rounded = np.clip(np.rint(p), 1, 5).astype(int)
    return {
        "n": int(len(t)),
        "mae": float(np.mean(np.abs(t - p))),
        # Undefined (None) for a constant input, e.g. a barely trained model.
        "pearson": _finite(stats.pearsonr(t, p)[0]) if varied else None,
        "spearman": _finite(stats.spearmanr(t, p)[0]) if varied else None,
        "keep_threshold": threshold,
        "keep_f1": float(f1_score(keep_t, keep_p, zero_division=0)),
        "keep_accuracy": float(np.mean(keep_t == keep_p)),
        "rounded_accuracy": float(np.mean(rounded == t.astype(int))),
    }


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def agreement_row(name: str, metrics: dict) -> dict:
    """The headline numbers of one student, for the side-by-side table."""
    dt, dm, sc = metrics["document_type"], metrics["domain"], metrics["educational_score"]
    return {
        "student": name,
        "type_acc": dt["accuracy"], "type_f1": dt["macro_f1"], "type_kappa": dt["kappa"],
        "domain_acc": dm["accuracy"], "domain_f1": dm["macro_f1"], "domain_kappa": dm["kappa"],
        "score_mae": sc["mae"], "score_r": sc["pearson"], "score_rho": sc["spearman"], "keep_f1": sc["keep_f1"],
    }


def paper_row() -> dict:
    return {"student": "paper (XLM-R)", "type_f1": PAPER_STUDENT["document_type"]["macro_f1"],
            "type_kappa": PAPER_STUDENT["document_type"]["kappa"], "domain_f1": PAPER_STUDENT["domain"]["macro_f1"],
            "score_r": PAPER_STUDENT["educational_score"]["pearson"], "score_mae": PAPER_STUDENT["educational_score"]["mae"]}


COLUMNS = ("student", "type_acc", "type_f1", "type_kappa", "domain_acc", "domain_f1", "domain_kappa",
           "score_mae", "score_r", "score_rho", "keep_f1")


def format_table(rows: Sequence[dict], columns: Sequence[str] = COLUMNS) -> str:
    """A fixed-width text table; missing values print as '-'."""
    def cell(v):
        if v is None:
            return "-"
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    grid = [list(columns)] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))) for row in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
