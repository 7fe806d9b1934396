"""Levers for the CPU students (issue 11 item 3): one grouped-CV ablation table.

Grouped 5-fold CV by article on the reference labels (the folds of benchmarks/classify.py:
``crossval.grouped_folds``, same seed). In every outer fold, per student (fastText, linear) and
feature set (the default context tokens; the same + the ``length`` token):

* the student fitted on the fold's training rows predicts the held-out articles (the baseline);
* an inner grouped 3-fold over the training rows only gives out-of-fold predictions, on which
  each calibration lever is fitted (``classifiers/calibration.py``) and then applied to the
  baseline's held-out predictions: nothing is tuned on the outer test fold;
* the ensemble averages fastText's and linear's probabilities (held-out and OOF alike, so a
  calibrated ensemble is fitted on averaged OOF predictions).

"default calibration" is what ``train.calibration`` (per student) and
``train.calibration_threshold_heads`` give. Each variant is scored per outer fold (``crossval.evaluate_predictions``); the table gives mean ±
std over folds and Δ vs the student's baseline (mean of the per-fold differences ± their std:
paired, so fold difficulty cancels). Ensemble rows are compared with fastText's baseline.

"default calibration, crossfit" is what `train` does by default (``train.calibration_mode:
crossfit``): no inner folds; outer fold k is scored through the default levers fitted on the other
outer folds' held-out predictions and labels (``calibration.crossfit``). ``--crossfit-only`` skips
the inner folds and gives only the baselines and these rows (a minute instead of ten).

    python benchmarks/levers.py --out runs/levers.json [--md runs/levers.md] [--folds 5] [--inner-folds 3]
    python benchmarks/levers.py --crossfit-only --md runs/levers-crossfit.md [--with-static]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifiers.calibration import (Calibration, average_predictions, crossfit,  # noqa: E402
                                     out_of_fold_predictions)
from classifiers.crossval import evaluate_predictions, grouped_folds, headline, summarise  # noqa: E402
from classifiers.predictions import Predictions  # noqa: E402

log = logging.getLogger("bench.levers")
STUDENTS = ("fasttext", "linear")
FIGURES = ("type_f1", "clinical_case_f1", "domain_f1", "score_mae", "score_r", "type_ece", "domain_ece")
DELTAS = ("type_f1", "clinical_case_f1", "domain_f1", "score_mae", "score_r")
# Calibration variants: name → (levers, heads the thresholds tune), fitted on inner-fold OOF rows.
TYPE_AND_DOMAIN, DOMAIN_ONLY = ("document_type", "domain"), ("domain",)
CALIBRATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "temperature": (("temperature",), DOMAIN_ONLY),
    "thresholds (type+domain)": (("thresholds",), TYPE_AND_DOMAIN),
    "thresholds (domain)": (("thresholds",), DOMAIN_ONLY),
    "temperature + thresholds (domain)": (("temperature", "thresholds"), DOMAIN_ONLY),
    "isotonic": (("isotonic",), DOMAIN_ONLY),
    "ordinal": (("ordinal",), DOMAIN_ONLY),
}
FEATURES = {"context": None, "context+length": "length"}


def trainer_for(sets: dict, extra_feature: str | None):
    from classifiers.training import Trainer
    from pipeline.config import PipelineConfig, apply_overrides

    cfg = apply_overrides(PipelineConfig(), sets)
    tc = cfg.train
    if extra_feature:
        tc = tc.model_copy(update={"context_features": [*tc.context_features, extra_feature]})
    return Trainer(tc.model_copy(update={"calibration": {}}))  # plain fits: the levers are applied here


def fold_predictions(ex, train_idx, test_idx, trainers, inner_trainers, inner_folds, seed):
    """{(feature set, student): (held-out predictions, inner OOF predictions)} for one outer fold."""
    train, test = ex.take(train_idx), ex.take(test_idx)
    out = {}
    for feat in FEATURES:
        for s in STUDENTS:
            t0 = time.time()
            model = trainers[feat].fit_plain(s, train)
            held = model.predict(test.text, test.context)
            oof = out_of_fold_predictions(lambda rows, s=s, feat=feat: inner_trainers[feat].fit_plain(s, rows),
                                          train, inner_folds, seed)
            out[(feat, s)] = (held, oof)
            log.info("  %s / %s: fit + %d inner fits %.0fs", feat, s, inner_folds, time.time() - t0)
    return train, test, out


def variants(train, preds, defaults: dict[str, list[str]], default_heads: tuple[str, ...]) -> dict[str, Predictions]:
    """Every row of the ablation table: held-out predictions after the lever(s). ``defaults``:
    the config's levers per student (train.calibration) with thresholds on ``default_heads``."""
    rows: dict[str, Predictions] = {}

    def add(name, held, oof, levers=(), heads=DOMAIN_ONLY):
        rows[name] = Calibration.fit(oof, train, levers, heads).apply(held) if levers else held

    for s in STUDENTS:
        held, oof = preds[("context", s)]
        add(s, held, oof)
        for cname, (levers, heads) in CALIBRATIONS.items():
            add(f"{s} + {cname}", held, oof, levers, heads)
        lheld, loof = preds[("context+length", s)]
        add(f"{s} + length", lheld, loof)
        levers = defaults.get(s, [])
        add(f"{s} + default calibration ({' + '.join(levers) or 'none'})", held, oof, levers, default_heads)
        add(f"{s} + length + default calibration", lheld, loof, levers, default_heads)
    for feat, tag in (("context", ""), ("context+length", " + length")):
        held = average_predictions([preds[(feat, s)][0] for s in STUDENTS])
        oof = average_predictions([preds[(feat, s)][1] for s in STUDENTS])
        add(f"ensemble{tag}", held, oof)
        add(f"ensemble{tag} + temperature", held, oof, ("temperature",))
        add(f"ensemble{tag} + temperature + thresholds (domain)", held, oof, ("temperature", "thresholds"))
    held = average_predictions([preds[("context+length", s)][0] for s in STUDENTS])
    oof = average_predictions([preds[("context+length", s)][1] for s in STUDENTS])
    add("all levers: ensemble + length + temperature + thresholds (domain) + ordinal", held, oof,
        ("temperature", "thresholds", "ordinal"))
    return rows


def baseline_of(name: str) -> str:
    return next((s for s in ("linear", "static") if name.startswith(s)), "fasttext")


def table(per_fold: dict[str, list[dict]]) -> tuple[str, dict]:
    summary = {name: summarise(folds) for name, folds in per_fold.items()}
    head = ["variant", *FIGURES, *(f"Δ {k}" for k in DELTAS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        cells = [name] + [_pm(s[k]) for k in FIGURES]
        base = per_fold[baseline_of(name)]
        for k in DELTAS:
            diffs = [f[k] - b[k] for f, b in zip(per_fold[name], base) if f.get(k) is not None and b.get(k) is not None]
            spread = f" ± {np.std(diffs, ddof=1):.3f}" if len(diffs) > 1 else ""
            cells.append("" if name == baseline_of(name) or not diffs else f"{np.mean(diffs):+.3f}{spread}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), summary


def _pm(stat: dict) -> str:
    if stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat.get("std") is not None else f"{stat['mean']:.3f}"


def parse_sets(pairs: list[str]) -> dict:
    out = {}
    for kv in pairs:
        k, v = kv.split("=", 1)
        out[k if k.startswith("train.") else f"train.{k}"] = json.loads(v) if v[:1] in "[{0123456789-tf" else v
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", default="tests/data/annotation/reference-labels.jsonl")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--inner-folds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="train config override KEY=VALUE")
    ap.add_argument("--inner-set", dest="inner_sets", action="append", default=[],
                    help="override for the inner-fold fits only (e.g. linear.max_iter=100)")
    ap.add_argument("--max-folds", type=int, default=None, help="stop after this many outer folds (smoke runs)")
    ap.add_argument("--crossfit-only", action="store_true",
                    help="no inner folds: the baselines and the default calibration cross-fitted on the outer folds")
    ap.add_argument("--with-static", action="store_true",
                    help="with --crossfit-only: the static student too (distils its vectors first, ~30-100 s)")
    ap.add_argument("--out", help="JSON results")
    ap.add_argument("--md", help="markdown table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("classifiers.fasttext_student").setLevel(logging.ERROR)  # "zone not in labels", per fit
    from classifiers.labels import load_labels

    ex, _ = load_labels(None, args.labels)
    sets = {"train.seed": args.seed, **parse_sets(args.sets)}
    inner_sets = {**sets, **parse_sets(args.inner_sets)}
    from pipeline.config import PipelineConfig, apply_overrides

    tc = apply_overrides(PipelineConfig(), sets).train
    defaults, default_heads = tc.calibration, tuple(tc.calibration_threshold_heads)
    trainers = {f: trainer_for(sets, extra) for f, extra in FEATURES.items()}
    inner = {f: trainer_for(inner_sets, extra) for f, extra in FEATURES.items()}
    folds, desc = grouped_folds(ex, args.folds, args.seed)
    per_fold: dict[str, list[dict]] = {}
    t0 = time.time()
    students = (*STUDENTS, "static") if args.crossfit_only and args.with_static else STUDENTS
    held_by_student: dict[str, list[Predictions]] = {s: [] for s in students}
    used = folds[:args.max_folds]
    for fi, (tr, te) in enumerate(used):
        log.info("outer fold %d/%d (%d train, %d held out)", fi + 1, len(folds), len(tr), len(te))
        if args.crossfit_only:
            test = ex.take(te)
            for st in students:
                held = trainers["context"].fit_plain(st, ex.take(tr)).predict(test.text, test.context)
                held_by_student[st].append(held)
                per_fold.setdefault(st, []).append(headline(evaluate_predictions(held, test)))
            continue
        train, test, preds = fold_predictions(ex, tr, te, trainers, inner, args.inner_folds, args.seed)
        for st in STUDENTS:
            held_by_student[st].append(preds[("context", st)][0])
        for name, p in variants(train, preds, defaults, default_heads).items():
            per_fold.setdefault(name, []).append(headline(evaluate_predictions(p, test)))
        log.info("fold %d: fastText type F1 %.3f, linear %.3f, ensemble %.3f (%.0fs so far)", fi + 1,
                 per_fold["fasttext"][-1]["type_f1"], per_fold["linear"][-1]["type_f1"],
                 per_fold["ensemble"][-1]["type_f1"], time.time() - t0)
    for st in students:  # what `train` does by default: levers cross-fitted on the outer folds
        if defaults.get(st):
            calibrated, _ = crossfit(ex, used, held_by_student[st], defaults[st], default_heads)
            per_fold[f"{st} + default calibration, crossfit"] = [
                headline(evaluate_predictions(p, ex.take(te))) for p, (_, te) in zip(calibrated, used)]
    text, summary = table(per_fold)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    inner_note = "no inner folds" if args.crossfit_only else f"inner {args.inner_folds}-fold OOF for every calibration"
    header = (f"{desc['method']}, {desc['n_groups']} articles, {inner_note}; {len(per_fold['fasttext'])} outer "
              f"folds; {when}; {time.time() - t0:.0f} s")
    print(header)
    print(text)
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(header + "\n\n" + text + "\n")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"evaluation": desc, "sets": sets, "inner_sets": inner_sets,
                                              "per_fold": per_fold, "summary": summary, "table": text,
                                              "header": header}, indent=2, default=str))


if __name__ == "__main__":
    main()
