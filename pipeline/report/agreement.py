"""LLM labels vs the student's predictions on the *same* paragraphs, held out from training.

Where the held-out predictions come from, in this order:
1. ``model/oof_predictions.parquet``: the train stage's out-of-fold predictions, one row per label
   and student (columns ``student``, ``document_type``, ``domain``, ``educational_score`` predicted,
   ``llm_document_type``, ``llm_domain``, ``llm_educational_score``), when it writes them: every
   figure, the calibration plot included, is computed from them;
2. the model card's pooled out-of-fold metrics (grouped k-fold cross-validation: each label is
   predicted by a student trained without its article): per-class P/R/F1, confusion, κ, MAE, r;
   the calibration plot then uses the 5-class score confusion (student scores rounded);
3. a card with a single held-out split (``split``: ``validation_fraction``, ``seed``, ``heldout``, or
   ``model/heldout.parquet`` naming the held-out rows): the LLM labels joined with the run's
   ``annotations/`` on those paragraphs (the split is recomputed with
   ``classifiers.dataset.stratified_split`` and accepted only when it reproduces the card's count);
4. otherwise every labelled run paragraph against ``annotations/``, and the page says in a note
   that these include training paragraphs.
The model card's own per-student numbers are shown beside them, with the paper's student.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.rundir import RunDir

log = logging.getLogger(__name__)

DOCUMENT_TYPES = ("clinical_case", "study", "review", "other")
DOMAINS = ("clinical", "biomedical", "other")


def _heldout_from_file(run: RunDir) -> tuple[str, set[str]] | None:
    import pyarrow.parquet as pq

    path = run.root / "model" / "heldout.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path)
    for column in ("paragraph_id", "text_hash"):
        if column in table.column_names:
            return column, {v for v in table[column].to_pylist() if v}
    log.warning("report: %s has neither paragraph_id nor text_hash; ignored", path)
    return None


def _label_source(run: RunDir, card: dict[str, Any]) -> Path | None:
    """The labels the students were trained on: the card's label_source if it still exists, else
    the run's labels/ table when the card says that is what was used (a moved run)."""
    source = card.get("label_source")
    if source and Path(source).exists():
        return Path(source)
    if (not source or Path(source).name == "labels") and run.is_complete("labels"):
        return run.table("labels")
    return None


def _heldout_from_card(run: RunDir, card: dict[str, Any]) -> tuple[str, set[str]] | None:
    from classifiers.dataset import examples_from_table, read_table, stratified_split

    split = card.get("split") or {}
    fraction, seed, expected = split.get("validation_fraction"), split.get("seed"), split.get("heldout")
    source = _label_source(run, card)
    if fraction is None or seed is None or expected is None or source is None:
        return None
    try:
        ex, _ = examples_from_table(read_table(source), str(source))
        _, held = stratified_split(ex, fraction, seed)
    except (OSError, ValueError) as exc:
        log.warning("report: cannot recover the held-out split from %s: %s", source, exc)
        return None
    if len(held) != expected:
        log.warning("report: recomputed held-out split has %d rows, the model card says %d; not used",
                    len(held), expected)
        return None
    return "text_hash", {ex.key[i] for i in held}


def _population(run: RunDir, con, card: dict[str, Any] | None) -> tuple[list[str], str, bool]:
    """(paragraph ids to compare on, how they were chosen, whether they are held out)."""
    from classifiers.features import text_hash

    rows = con.execute("SELECT DISTINCT ON (paragraph_id) paragraph_id, text, "
                       + ("text_hash" if "text_hash" in {r[0] for r in con.execute("DESCRIBE labels").fetchall()}
                          else "NULL AS text_hash")
                       + " FROM labels WHERE status = 'ok' AND paragraph_id IS NOT NULL "
                         "ORDER BY paragraph_id, labeller").fetchall()
    held = _heldout_from_file(run) or (_heldout_from_card(run, card) if card else None)
    if held is None:
        return [r[0] for r in rows], ("every run paragraph with a valid LLM label; the model card does not say "
                                      "which were held out, so these INCLUDE TRAINING PARAGRAPHS"), False
    column, keys = held
    if column == "paragraph_id":
        ids = [r[0] for r in rows if r[0] in keys]
    else:
        ids = [r[0] for r in rows if (r[2] or text_hash(r[1])) in keys]
    return ids, (f"run paragraphs whose LLM label was held out from training ({len(keys):,} held-out labels in "
                 f"all, {len(ids):,} of them on run paragraphs)"), True


def calibration_points(truth: list[int], pred: list[float]) -> list[dict[str, Any]]:
    """Mean student score for each LLM score."""
    out = []
    for k in sorted(set(truth)):
        vals = [p for t, p in zip(truth, pred) if t == k]
        out.append({"llm_score": k, "student_mean": sum(vals) / len(vals), "n": len(vals)})
    return out


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The side-by-side numbers of one student (``classifiers.metrics.agreement_row``'s columns),
    missing metrics left empty so an older or partial model card still shows what it has."""
    dt, dm, sc = (metrics.get(h) or {} for h in ("document_type", "domain", "educational_score"))
    return {"type_acc": dt.get("accuracy"), "type_f1": dt.get("macro_f1"), "type_kappa": dt.get("kappa"),
            "domain_acc": dm.get("accuracy"), "domain_f1": dm.get("macro_f1"), "domain_kappa": dm.get("kappa"),
            "score_mae": sc.get("mae"), "score_r": sc.get("pearson"), "score_rho": sc.get("spearman"),
            "keep_f1": sc.get("keep_f1")}


CV_KEYS = ("type_f1", "clinical_case_f1", "domain_f1", "score_mae", "score_r", "keep_f1")


def _mean_sd(stat: dict[str, Any] | None) -> str | None:
    """'0.754 ± 0.031' from a cross-validation summary ({mean, std, folds})."""
    if not stat or stat.get("mean") is None:
        return None
    sd = stat.get("std")
    return f"{stat['mean']:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def _chosen_student(card: dict[str, Any], con, objects: set[str]) -> str | None:
    """The student whose figures are detailed: the one that annotated the run, else the default."""
    students = card.get("students") or {}
    if "annotations" in objects:
        versions = {r[0] for r in con.execute("SELECT DISTINCT classifier_version FROM annotations").fetchall()}
        for name, s in students.items():
            if s.get("version") in versions:
                return name
    default = card.get("default_student")
    return default if default in students else next(iter(students), None)


def _method(card: dict[str, Any]) -> str:
    ev = card.get("evaluation")
    return str(ev.get("method") if isinstance(ev, dict) else ev or "")


def _from_oof_file(run: RunDir, student: str | None) -> dict[str, Any] | None:
    import pyarrow.parquet as pq

    from classifiers.metrics import classification_metrics, score_metrics

    path = run.root / "model" / "oof_predictions.parquet"
    if not path.exists() or student is None:
        return None
    rows = [r for r in pq.read_table(path).to_pylist() if r.get("student") == student]
    rows = [r for r in rows if None not in (r.get("document_type"), r.get("llm_document_type"), r.get("domain"),
                                            r.get("llm_domain"), r.get("educational_score"),
                                            r.get("llm_educational_score"))]
    if not rows:
        return None
    truth = [int(r["llm_educational_score"]) for r in rows]
    pred = [float(r["educational_score"]) for r in rows]
    return {"n": len(rows), "held_out": True, "student_versions": [student],
            "population": "labels, each predicted by a student trained without its article (out-of-fold "
                          "predictions of the train stage's grouped cross-validation)",
            "document_type": classification_metrics([r["llm_document_type"] for r in rows],
                                                    [r["document_type"] for r in rows], DOCUMENT_TYPES),
            "domain": classification_metrics([r["llm_domain"] for r in rows], [r["domain"] for r in rows], DOMAINS),
            "educational_score": score_metrics(truth, pred),
            "calibration": calibration_points(truth, pred), "calibration_note": ""}


def _from_card(card: dict[str, Any], student: str | None) -> dict[str, Any] | None:
    """The card's pooled out-of-fold metrics of ``student`` (grouped cross-validation)."""
    if student is None or "cross" not in _method(card).lower():
        return None
    m = ((card.get("students") or {}).get(student) or {}).get("metrics") or {}
    dt, dm, sc = m.get("document_type") or {}, m.get("domain") or {}, m.get("educational_score") or {}
    if not (dt.get("confusion") and dm.get("confusion") and "mae" in sc):
        return None
    calibration = []
    conf = (sc.get("as_classes") or {}).get("confusion") or {}
    for label, row in zip(conf.get("labels") or [], conf.get("matrix") or []):
        if sum(row):
            calibration.append({"llm_score": int(label), "n": int(sum(row)),
                                "student_mean": sum((j + 1) * v for j, v in enumerate(row)) / sum(row)})
    version = ((card.get("students") or {}).get(student) or {}).get("version") or student
    return {"n": dt.get("n"), "held_out": True, "student_versions": [version],
            "population": f"labels, each predicted by a {student} student trained without its article "
                          f"({_method(card)}; pooled out-of-fold, from the model card)",
            "document_type": dt, "domain": dm, "educational_score": sc, "calibration": calibration,
            "calibration_note": "student scores rounded to the nearest integer (the card keeps no per-row scores)"}


def heldout_agreement(run: RunDir, con, objects: set[str], card: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per-class P/R/F1, confusion matrices, κ, score MAE / r and calibration of the student
    against the LLM on the same held-out paragraphs, plus the card's and the paper's headline numbers."""
    from classifiers.metrics import PAPER_STUDENT, classification_metrics, score_metrics

    students, spread = [], []
    cross = "cross" in _method(card or {}).lower()
    for name, student in ((card or {}).get("students") or {}).items():
        m = student.get("metrics") or {}
        students.append({"student": f"{name} ({student.get('version')})",
                         "on": "every label, out-of-fold (model card)" if cross else "held-out labels (model card)",
                         "paragraphs": (m.get("document_type") or {}).get("n"), **headline(m)})
        cv = student.get("cv") or {}
        if cv:
            spread.append({"student": name, **{k: _mean_sd(cv.get(k)) for k in CV_KEYS if cv.get(k)}})
    paper = {"student": "paper's student (XLM-R)", "on": "paper's test set",
             "type_f1": PAPER_STUDENT["document_type"]["macro_f1"], "type_kappa": PAPER_STUDENT["document_type"]["kappa"],
             "domain_f1": PAPER_STUDENT["domain"]["macro_f1"],
             "score_r": PAPER_STUDENT["educational_score"]["pearson"],
             "score_mae": PAPER_STUDENT["educational_score"]["mae"]}
    student = _chosen_student(card, con, objects) if card else None
    compared = _from_oof_file(run, student) or (_from_card(card, student) if card else None)
    if compared is not None:
        return {"students": students, "paper": paper, "compared": compared, "population": compared["population"],
                "cv_spread": spread}
    if not {"labels", "annotations"} <= objects:
        return {"students": students, "paper": paper, "compared": None, "cv_spread": spread} if students else None

    ids, how, held_out = _population(run, con, card)
    con.register("_compare_ids", __import__("pyarrow").table({"paragraph_id": ids}))
    try:
        rows = con.execute("""
            SELECT l.document_type, n.document_type, l.domain, n.domain, l.educational_score, n.educational_score,
                   n.classifier_version
            FROM (SELECT DISTINCT ON (paragraph_id) * FROM labels WHERE status = 'ok' AND paragraph_id IS NOT NULL
                  ORDER BY paragraph_id, labeller) l
            JOIN _compare_ids USING (paragraph_id) JOIN annotations n USING (paragraph_id)
            ORDER BY paragraph_id""").fetchall()
    finally:
        con.unregister("_compare_ids")
    rows = [r for r in rows if None not in r[:6]]
    if rows:
        truth_score = [int(r[4]) for r in rows]
        pred_score = [float(r[5]) for r in rows]
        compared = {
            "n": len(rows), "population": how, "held_out": held_out,
            "student_versions": sorted({r[6] for r in rows}),
            "document_type": classification_metrics([r[0] for r in rows], [r[1] for r in rows], DOCUMENT_TYPES),
            "domain": classification_metrics([r[2] for r in rows], [r[3] for r in rows], DOMAINS),
            "educational_score": score_metrics(truth_score, pred_score),
            "calibration": calibration_points(truth_score, pred_score), "calibration_note": "",
        }
        students.append({**headline(compared), "student": f"{', '.join(compared['student_versions'])} as annotated",
                         "paragraphs": len(rows),
                         "on": "held-out run paragraphs (this report)" if held_out
                         else "labelled run paragraphs, training included (this report)"})
    return {"students": students, "paper": paper, "compared": compared, "cv_spread": spread,
            "population": how if rows else f"{how}: none of them annotated"}
