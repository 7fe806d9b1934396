"""Train the students on the LLM labels, evaluate them by article → RUN_DIR/model/ + reports/train.json.

Thin driver around ``classifiers/``: label IO (``classifiers.labels``), fitting
(``classifiers.training``) and grouped cross-validation (``classifiers.crossval``) are pure
Python on the driver; Spark only draws the unlabelled pool the taught students learn from
(``distilled``, ``cascade``) from ``paragraphs/``. The model folder is built in a temp sibling and
published atomically.

    spark-submit jobs/train.py RUN_DIR [--labels PATH] [--student auto|fasttext|linear|transformer|distilled|cascade|static|all]
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from classifiers.crossval import (collect_cv, cv_tasks, grouped_folds, headline, learning_curve, merge_outputs,
                                  summarise)
from classifiers.dataset import Examples, stratified_split
from classifiers.evaluate import evaluate
from classifiers.labels import load_labels, unlabelled_from_file, ws_hash
from classifiers.metrics import PAPER_STUDENT, format_table, paper_row
from classifiers.parallel import default_jobs, run_tasks
from classifiers.students import CARD, CPU_STUDENTS, STUDENTS, TAUGHT
from classifiers.training import Trainer, pick_annotators, plan_students
from pipeline.config import PipelineConfig
from pipeline.errors import UserError
from pipeline.rundir import RunDir, read_table, write_json_atomic

log = logging.getLogger(__name__)

STAGE = "train"
MODEL = "model"


# ---- the taught students' unlabelled pool ------------------------------------------------------
def load_unlabelled(spark, run: RunDir, cfg: PipelineConfig, path: str | None) -> Examples:
    """Paragraphs for the transformer to label: a file, or a deterministic hash sample of the run's
    ``paragraphs/`` (at most ``train.cascade.max_paragraphs``), without the copies dedup dropped
    and with one row per distinct (whitespace-normalised) text."""
    cc = cfg.train.cascade
    if path:
        return unlabelled_from_file(path, cc.max_paragraphs, cc.min_words)
    if not run.is_complete("paragraphs"):
        raise UserError("the distilled and cascade students need unlabelled paragraphs: ingest the run first",
                        hint="or set train.cascade.unlabelled / pass --unlabelled FILE")
    from pyspark.sql import functions as F

    if spark is None:
        from pipeline.spark import get_spark
        spark = get_spark(cfg.spark)
    elif callable(spark) and not hasattr(spark, "read"):
        spark = spark()  # a factory: Spark starts only when a pool is drawn
    paras = read_table(spark, run, "paragraphs").where(F.col("n_words") >= cc.min_words)
    if run.is_complete("dedup"):  # dedup-aware: a duplicate would only weigh its text twice
        dups = read_table(spark, run, "dedup").where(F.col("is_duplicate")).select("paragraph_id")
        paras = paras.join(dups, "paragraph_id", "left_anti")
    if run.is_complete("articles"):
        arts = read_table(spark, run, "articles").select("article_id", "article_type", "source")
        paras = paras.join(arts, "article_id", "left")
    else:
        paras = paras.withColumn("article_type", F.lit(None).cast("string")).withColumn(
            "source", F.lit(None).cast("string"))
    total = paras.count()
    frac = min(1.0, 1.2 * cc.max_paragraphs / max(total, 1))  # a little over: the limit trims it
    h = F.xxhash64(F.lit(cfg.train.seed), F.col("paragraph_id"))
    sample = (paras.withColumn("_h", h)
              .where((F.pmod(F.col("_h"), F.lit(1_000_000)) < F.lit(int(frac * 1_000_000))) | F.lit(frac >= 1.0))
              .orderBy("_h", "paragraph_id").limit(cc.max_paragraphs)
              .select("paragraph_id", "article_id", "text", "zone", "section_path", "article_type", "source"))
    data = sample.toArrow().to_pydict()
    seen: set[str] = set()
    keep = []
    for i, t in enumerate(data["text"]):
        k = ws_hash(t)
        if k not in seen:
            seen.add(k)
            keep.append(i)
    log.info("pool: %d distinct unlabelled paragraphs drawn from %d", len(keep), total)
    pick = {k: [v[i] for i in keep] for k, v in data.items()}
    return Examples(text=pick["text"], context={"section": pick["section_path"], "zone": pick["zone"],
                                                "article_type": pick["article_type"]},
                    key=[ws_hash(t) for t in pick["text"]],
                    group=[s or a for s, a in zip(pick["source"], pick["article_id"])])  # as the labels name articles


# ---- evaluation --------------------------------------------------------------------------------
def _collections(ex: Examples, cfg: PipelineConfig) -> list[str] | None:
    from classifiers.article_collections import collection_of, index_data_folder

    if not ex.group:
        return None
    index = index_data_folder(cfg.train.collections_folder) if cfg.train.collections_folder else None
    return [collection_of(g, index) for g in ex.group]


def _evaluate_grouped(ex: Examples, wanted: list[str], trainer: Trainer, cfg: PipelineConfig,
                      finals: list, jobs: int) -> tuple[dict, list]:
    """Grouped CV of ``wanted``, run in one batch with the ``finals`` (the fits on all labels) so
    ``jobs`` processes stay busy; → (evaluation, the finals' outputs)."""
    tc = cfg.train
    folds, desc = grouped_folds(ex, tc.cv_folds, tc.seed)
    log.info("%s: %d articles, fold sizes %s", desc["method"], desc["n_groups"], desc["fold_sizes"])
    fits = {name: (lambda train, fold, name=name: trainer.fit(name, train, fold)) for name in wanted}
    tasks = cv_tasks(ex, fits, folds, tc.transformer.predict_batch_size, independent=jobs > 1)
    outputs = run_tasks([*finals, *tasks], jobs)  # the big final fits first: better packing
    done = merge_outputs(outputs[len(finals):])
    calibrated, calibrations = _crossfit(ex, folds, done, wanted, trainer)
    results = collect_cv(ex, wanted, folds, done, _collections(ex, cfg), calibrated)
    curve = None
    cpu = [s for s in wanted if s in CPU_STUDENTS and s not in TAUGHT]
    if tc.learning_curve and cpu:
        best = max(cpu, key=lambda s: results[s]["selection_score"])
        log.info("learning curve for %s", best)
        # The curve's fits are plain (crossfit calibrates after CV): its 100 % point is plain too.
        full = (collect_cv(ex, [best], folds, done) if best in calibrated else results)[best]["summary"]
        curve = {"student": best, **({"calibration": "none (plain student)"} if best in calibrated else {}),
                 **learning_curve(ex, fits[best], folds, tc.learning_curve_fractions, tc.seed, full=full,
                                  batch_size=tc.transformer.predict_batch_size, jobs=jobs)}
    return ({"evaluation": desc, "results": results, "learning_curve": curve, "calibrations": calibrations},
            outputs[:len(finals)])


def _crossfit(ex: Examples, folds, done, wanted: list[str], trainer: Trainer) -> tuple[dict, dict]:
    """Per calibrated student (train.calibration, crossfit mode): its per-fold predictions through
    levers fitted on the other folds, and the calibration of its final fit."""
    from classifiers.calibration import crossfit

    tc = trainer.tc
    calibrated, calibrations = {}, {}
    for name in wanted:
        if trainer.crossfit and tc.calibration.get(name):
            plain = [done[(fi, name)][0] for fi in range(len(folds))]
            calibrated[name], calibrations[name] = crossfit(ex, folds, plain, tc.calibration[name],
                                                            tc.calibration_threshold_heads)
    return calibrated, calibrations


def _evaluate_paragraph_split(ex: Examples, wanted: list[str], trainer: Trainer, cfg: PipelineConfig,
                              finals: list, jobs: int) -> tuple[dict, list]:
    """The old paragraph split, kept as an explicit option: OPTIMISTIC (an article's paragraphs
    fall on both sides)."""
    tc = cfg.train
    train_idx, held_idx = stratified_split(ex, tc.validation_fraction, tc.seed)
    train, held = ex.take(train_idx), ex.take(held_idx)
    results = {}
    for name in wanted:
        t0 = time.time()
        model = trainer.fit(name, train, "split")
        t1 = time.time()
        m = evaluate(model, held, batch_size=tc.transformer.predict_batch_size)
        h = headline(m)
        results[name] = {"summary": summarise([h]), "pooled": m,
                         "seconds": {"fit": round(t1 - t0, 2), "predict": round(time.time() - t1, 2)}}
        from classifiers.crossval import selection_score
        results[name]["selection_score"] = selection_score(results[name]["summary"])
    desc = {"method": "paragraph split (OPTIMISTIC: paragraphs of one article on both sides)",
            "train": len(train), "heldout": len(held), "validation_fraction": tc.validation_fraction,
            "seed": tc.seed}
    return {"evaluation": desc, "results": results, "learning_curve": None}, run_tasks(finals, jobs)


# ---- the stage ---------------------------------------------------------------------------------
def train_students(spark, run: RunDir, cfg: PipelineConfig, labels: str | None = None, student: str | None = None,
                   unlabelled: str | None = None, marker: dict | None = None) -> dict:
    """Evaluate the requested students by article (grouped k-fold CV), fit them on all labels,
    publish ``model/`` and return the figures (the runner writes ``reports/train.json``). ``spark`` (a session, a zero-argument
    factory, or None: one is made when needed) only draws the unlabelled pool from the run.
    ``marker``: extra fields for model/'s completion marker (the stage runner's fingerprint)."""
    tc = cfg.train
    labels = labels or tc.labels
    wanted, why = plan_students(student or tc.student, tc.transformer.device)
    ex, info = load_labels(run, labels, soft_targets=tc.soft_targets)


    pool = None
    pool_source = unlabelled or tc.cascade.unlabelled
    if (student or tc.student) == "auto" and not pool_source and not run.is_complete("paragraphs"):
        if any(s in TAUGHT for s in wanted):
            wanted = [s for s in wanted if s not in TAUGHT]
            why += "; no unlabelled paragraphs (no paragraphs/ in the run, no --unlabelled), so nothing is distilled"
    if any(s in TAUGHT for s in wanted):
        pool = load_unlabelled(spark, run, cfg, pool_source)
    trainer = Trainer(tc, pool, ex.text, ex.group)
    trainer.crossfit = tc.evaluation == "grouped_cv" and tc.calibration_mode == "crossfit"
    log.info("labels: %d usable; students %s (%s)", len(ex), wanted, why)
    evaluate_fn = _evaluate_grouped if tc.evaluation == "grouped_cv" else _evaluate_paragraph_split
    tmp = run.tmp_path(MODEL)
    tmp.mkdir(parents=True)
    names = [s for s in STUDENTS if s in wanted]
    # The CPU students fit side by side in forked processes (folds and final fits alike); a
    # transformer or a student taught by it stays in this process (GPU, shared teacher).
    independent = all(s in CPU_STUDENTS and s not in TAUGHT for s in wanted)
    jobs = default_jobs(tc.cv_jobs, len(names) * (tc.cv_folds + 1)) if independent else 1
    if jobs > 1:
        log.info("fitting in %d processes", jobs)
        trainer.warm_up(names)
    finals = [(lambda name=name: _final_fit(trainer, name, ex, tmp)) for name in names]
    ev, final_out = evaluate_fn(ex, wanted, trainer, cfg, finals, jobs)
    results = ev["results"]
    card_students: dict[str, dict] = {}  # model/ holds exactly what these labels and settings give

    for name, (seconds, fitted) in zip(names, final_out):
        if name in ev.get("calibrations", {}):
            fitted = _attach_calibration(tmp / name, ev["calibrations"][name], fitted)
        r = results[name]
        card_students[name] = {
            "version": fitted["version"], "kind": fitted["kind"], "path": name,
            "hyperparameters": fitted["hyperparameters"],
            "features": {"text": fitted["text_features"], "context": fitted["context_features"],
                         "context_dropout": tc.context_dropout},
            "score_head": fitted["score_head"],
            "train_seconds": round(seconds, 2),
            "evaluation": ev["evaluation"]["method"],
            "cv": r["summary"], "selection_score": r["selection_score"],
            "metrics": r["pooled"],  # pooled out-of-fold: per-class F1 with support, confusion
            "by_collection": r.get("by_collection"),
            **({"taught": trainer.last_pool_info.get("final")} if name in TAUGHT else {}),
            **({"score_head_choice": fitted["score_head_choice"]} if name == "transformer" else {}),
            **({"calibration": fitted["calibration"]} if fitted.get("calibration") else {}),
        }
        log.info("%s: grouped CV type F1 %s, domain F1 %s, MAE %s; final fit %.0fs", name,
                 _pm(r["summary"]["type_f1"]), _pm(r["summary"]["domain_f1"]), _pm(r["summary"]["score_mae"]), seconds)

    students = sorted(card_students)
    annot = pick_annotators({s: card_students[s].get("selection_score", float("-inf")) for s in students}, students)
    card = {
        **{k: info[k] for k in ("label_source", "label_hash", "labeller", "prompt_version", "n_rows", "n_used",
                                "skipped_rows", "context_columns", "group_column", "soft_target_rows")},
        "evaluation": ev["evaluation"], "students": card_students, "trained_because": why,
        "default_student": annot["cpu"], "annotator": annot, "learning_curve": ev["learning_curve"],
        "classes": _classes(), "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(tmp / CARD, card)
    run.publish(tmp, MODEL, {**(marker or {}), "label_hash": info["label_hash"], "students": students,
                             "versions": {s: card_students[s].get("version") for s in students}})

    return {
        "model_dir": str(run.table(MODEL)), "default_student": annot["cpu"], "annotator": annot,
        **{k: info[k] for k in ("label_source", "label_hash", "labeller", "prompt_version", "n_used", "skipped_rows",
                                "group_column")},
        "evaluation": ev["evaluation"], "trained_because": why,
        "students": {s: card_students[s] for s in students},
        "table": [cv_row(s, card_students[s]["cv"]) for s in STUDENTS if s in card_students and
                  card_students[s].get("cv")],
        "learning_curve": ev["learning_curve"], "paper_student": PAPER_STUDENT,
        # One-line figures for the command's summary.
        "evaluation_method": ev["evaluation"]["method"],
        "cv_headline": {s: headline_line(card_students[s]["cv"]) for s in students if card_students[s].get("cv")},
    }


_TEXT_FEATURES = {"fasttext": "normalised (classifiers.features.normalise)", "linear": "hashed word 1-2-grams",
                  "static": "Model2Vec word vectors (mean) + hashed word 1-2-grams",
                  "transformer": "raw text, model tokenizer"}


def _final_fit(trainer: Trainer, name: str, ex: Examples, tmp: Path) -> tuple[float, dict]:
    """Fit ``name`` on all labels and save it under ``tmp/name`` → (seconds, what the card says of
    it): plain data, so the fit may run in a forked process."""
    t0 = time.time()
    model = trainer.fit(name, ex, "final")
    seconds = time.time() - t0
    model.save(tmp / name, extra={"student": name, "train_seconds_total": round(seconds, 2)})
    kind = model.kind
    return seconds, {
        "version": model.version, "kind": kind,
        "hyperparameters": model.meta.get("params") if kind == "transformer" else getattr(model, "params", None),
        "text_features": _TEXT_FEATURES.get(kind, kind), "context_features": list(model.context_features),
        "score_head": getattr(model, "score_head", "classes (expected value over 5 classes)"),
        "score_head_choice": model.meta.get("score_head_choice"),
        "calibration": model.calibration.summary() if hasattr(model, "calibration") else None,
    }


def _attach_calibration(folder: Path, calibration, card: dict) -> dict:
    """The saved final student, calibrated (crossfit mode): ``calibration.json`` beside it and a
    version naming both; → the card entry updated."""
    from classifiers.calibration import attach_calibration

    return {**card, "version": attach_calibration(folder, calibration, card["version"]),
            "calibration": calibration.summary()}


def _pm(stat: dict) -> str:
    if stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:.3f}" + (f" ± {stat['std']:.3f}" if stat.get("std") is not None else "")


def headline_line(cv: dict) -> str:
    names = (("type_f1", "type F1"), ("clinical_case_f1", "clinical_case F1"), ("domain_f1", "domain F1"),
             ("score_mae", "score MAE"), ("score_r", "score r"))
    return ", ".join(f"{label} {_pm(cv.get(key, {}))}" for key, label in names)


def cv_row(name: str, cv: dict) -> dict:
    """One student's grouped-CV means (and spreads) for the side-by-side table."""
    row = {"student": name}
    for key in ("type_acc", "type_f1", "type_kappa", "clinical_case_f1", "domain_f1", "score_mae", "score_r", "keep_f1"):
        row[key] = cv.get(key, {}).get("mean")
        row[key + "_std"] = cv.get(key, {}).get("std")
    return row


def _classes() -> dict[str, list[str]]:
    from classifiers.heads import HEADS
    return {h.name: list(h.classes) for h in HEADS}


TABLE_COLUMNS = ("student", "type_acc", "type_f1", "clinical_case_f1", "domain_f1", "score_mae", "score_r", "keep_f1")


def print_table(report: dict) -> str:  # also the `train` command's summary (pipeline.stages)
    """Grouped-CV means ± spread per student beside the paper's student, then the learning curve."""
    rows = []
    for r in report.get("table", []):
        rows.append({c: (r.get(c) if c == "student" or r.get(c) is None else
                         f"{r[c]:.3f}" + (f"±{r[c + '_std']:.3f}" if r.get(c + "_std") is not None else ""))
                     for c in TABLE_COLUMNS})
    rows.append(paper_row())
    ev = report.get("evaluation", {})
    lines = [f"evaluation: {ev.get('method', '?')}" + (f", {ev['n_groups']} articles" if "n_groups" in ev else ""),
             format_table(rows, TABLE_COLUMNS)]
    annot = report.get("annotator")
    if annot:
        lines.append(f"annotates: CPU executors → {annot['cpu']}, GPU executors → {annot['gpu']}")
    curve = report.get("learning_curve")
    if curve:
        lines.append(f"learning curve ({curve['student']}, grouped CV):")
        for p in curve["points"]:
            lines.append(f"  {100 * p['fraction']:.0f}% ({p['n_labels']:.0f} labels): type F1 {p['type_f1']:.3f}, "
                         f"domain F1 {p['domain_f1']:.3f}, score MAE {p['score_mae']:.3f}")
        for key in ("type_f1", "domain_f1", "score_mae"):
            fit = curve["power_law"].get(key)
            if fit:
                lines.append(f"  EXTRAPOLATION to {fit['n_at_10x']} labels (10x, power law): {key} "
                             f"{fit['at_10x_extrapolated']:.3f}")
    return "\n".join(lines)


def build(ctx) -> dict:
    """Stage entry (pipeline.stage runner): it has already decided the stage must run. Spark is
    started only if an unlabelled pool must be drawn from the run."""
    return train_students(lambda: ctx.spark, ctx.run, ctx.cfg, marker=ctx.meta())


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import submit_main

    submit_main("train", argv)


if __name__ == "__main__":
    main()
