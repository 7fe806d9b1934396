"""Fitting each kind of student from a train config, and which students the hardware can use.

Shared by the final fit (all labels) and every cross-validation fold, so both train the same way.
A teacher (the transformer) fitted in a fold is reused by the students taught from it in the same
fold (``distilled``, ``cascade``); the unlabelled pool never contains a text the fold holds out.
Pure Python (no Spark); torch is imported only when a transformer is asked for.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from classifiers.dataset import Examples, stratified_split
from classifiers.heads import DOCUMENT_TYPE, DOMAIN, EDUCATIONAL_SCORE
from classifiers.labels import article_key, ws_hash
from classifiers.students import CPU_STUDENTS, STUDENTS, TAUGHT
from pipeline.errors import UserError

log = logging.getLogger(__name__)
# Students that train.calibration applies to (the taught ones would need a teacher per inner fold).
CALIBRATED = ("fasttext", "linear", "static")


def gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def plan_students(requested: str, transformer_device: str = "auto") -> tuple[list[str], str]:
    """The students to train for ``requested`` (a name, ``all`` or ``auto``) and why."""
    if requested == "auto":
        gpu = transformer_device.startswith("cuda") or (transformer_device == "auto" and gpu_available())
        if gpu:
            return (["fasttext", "linear", "transformer", "distilled"],
                    "auto: a GPU is present, so the transformer and the linear student distilled from it "
                    "are trained beside the CPU students")
        return (["fasttext", "linear"],
                "auto: no GPU here, so only the CPU-speed students are trained (the transformer needs a GPU "
                "to train and annotate in reasonable time; ask for it with --student transformer)")
    if requested == "all":
        return list(STUDENTS), "all: every student, as asked"
    if requested not in STUDENTS:
        raise UserError(f"unknown student {requested!r}", hint=f"one of {', '.join(STUDENTS)}, all or auto")
    names = [requested]
    if requested in TAUGHT:
        names = ["transformer", requested]  # the teacher is trained (and evaluated) too
    return names, f"{requested}: as asked"


def pick_annotators(selection: dict[str, float], trained: list[str]) -> dict[str, Any]:
    """The student that annotates on CPU executors (best CPU-speed student by grouped CV) and on
    GPU executors (best of all), with the reason."""
    cpu = [s for s in trained if s in CPU_STUDENTS]
    scored = {s: selection.get(s, float("-inf")) for s in trained}
    best_cpu = max(cpu, key=lambda s: scored[s]) if cpu else None
    best_all = max(trained, key=lambda s: scored[s]) if trained else None
    fmt = ", ".join(f"{s} {scored[s]:.3f}" for s in sorted(trained, key=lambda s: -scored[s]) if np.isfinite(scored[s]))
    reason = ("ranked by the grouped-CV mean of type macro-F1, clinical_case F1, domain macro-F1, score r and "
              f"1 − score MAE: {fmt or 'no cross-validation figures'}. CPU executors use the best CPU-speed "
              "student; GPU executors (annotate.device=cuda) the best of all.")
    return {"cpu": best_cpu or best_all, "gpu": best_all, "reason": reason}


class Trainer:
    """Fits students from ``cfg.train`` (a TrainConfig). ``pool``: unlabelled paragraphs for the
    taught students; ``labelled_keys``: whitespace-normalised hashes of every labelled text, so a
    fold's pool excludes what the fold holds out."""

    def __init__(self, tc, pool: Examples | None = None, labelled_texts: list[str] | None = None,
                 labelled_groups: list[str] | None = None):
        self.tc = tc
        self.pool = pool
        self.labelled_keys = {ws_hash(t) for t in (labelled_texts or [])}
        self.labelled_groups = {article_key(g) for g in (labelled_groups or []) if g} - {""}
        self._teachers: dict[Any, Any] = {}
        # Set by the grouped-CV driver when it calibrates from the outer folds itself
        # (train.calibration_mode: crossfit): fit() then returns the plain students.
        self.crossfit = False
        self.last_pool_info: dict[Any, dict] = {}

    def fit(self, name: str, train: Examples, fold: Any = None, teacher=None):
        tc = self.tc
        if name in CALIBRATED:
            levers = tc.calibration.get(name, [])
            if levers and not self.crossfit:
                from classifiers.calibration import calibrate

                return calibrate(lambda rows: self.fit_plain(name, rows), train, levers, tc.calibration_folds,
                                 tc.seed, tc.calibration_threshold_heads)
            return self.fit_plain(name, train)
        if name == "transformer":
            model = self.fit_transformer(train)
            self._teachers[fold] = model
            return model
        if name in TAUGHT:
            teacher = teacher or self._teachers.get(fold)
            if teacher is None:
                log.info("%s: no transformer for this fold yet; training the teacher", name)
                teacher = self._teachers[fold] = self.fit_transformer(train)
            pool = self._fold_pool(train)
            if name == "cascade":
                from classifiers.cascade import train_cascade

                model, info = train_cascade(teacher, pool, train if tc.cascade.include_gold else None,
                                            tc.fasttext_params(), tc.context_features, tc.context_dropout, tc.seed,
                                            batch_size=tc.transformer.predict_batch_size)
            else:
                model, info = self.fit_distilled(teacher, pool, train)
            self.last_pool_info[fold] = info
            return model
        raise UserError(f"unknown student {name!r}", hint=f"one of {', '.join(STUDENTS)}")

    def warm_up(self, names: list[str]) -> None:
        """Load once, in this process, what every fit of ``names`` shares, so fits forked from it
        (``classifiers.parallel``) inherit it instead of each redoing it: the static student's
        distilled vectors (a torch pass over the encoder's vocabulary)."""
        if "static" in names:
            from classifiers.static_student import preload

            preload(self.tc.static.model_dump())

    def fit_plain(self, name: str, train: Examples):
        """A CPU student (fastText, linear or static) as configured, without calibration."""
        tc = self.tc
        if name == "fasttext":
            return self.fit_fasttext(train)
        if name == "static":
            from classifiers.static_student import StaticStudent

            return StaticStudent.train(train, tc.static.model_dump(), tc.context_features, tc.context_dropout,
                                       tc.seed)
        from classifiers.linear_student import LinearStudent

        return LinearStudent.train(train, tc.linear.model_dump(), tc.context_features, tc.context_dropout, tc.seed)

    def _fold_pool(self, train: Examples) -> Examples:
        """The pool less every text the fold holds out and, when both sides name their articles
        (``train.distill.exclude_heldout_articles``), every paragraph of a held-out article: the
        student then never learns (through the teacher) from the articles it is scored on."""
        if self.pool is None or len(self.pool) == 0:
            raise UserError("the distilled and cascade students need unlabelled paragraphs",
                            hint="ingest the run first, or pass --unlabelled FILE")
        held = self.labelled_keys - {ws_hash(t) for t in train.text}
        held_articles: set[str] = set()
        if self.tc.distill.exclude_heldout_articles and self.pool.group and self.labelled_groups:
            held_articles = self.labelled_groups - {article_key(g) for g in train.group}
        keep = [i for i, k in enumerate(self.pool.key) if k not in held
                and not (held_articles and article_key(self.pool.group[i]) in held_articles)]
        return self.pool.take(keep)

    def fit_fasttext(self, train: Examples):
        from classifiers.fasttext_student import FastTextStudent

        tc = self.tc
        head_params = None
        if tc.autotune != "off":
            # Tune on an inner split of the training rows only, then train the winner on all of them.
            fit_idx, dev_idx = stratified_split(train, tc.dev_fraction, tc.seed + 1)
            tuned = FastTextStudent.train(train.take(fit_idx), tc.fasttext_params(), tc.context_features,
                                          tc.context_dropout, tc.seed, autotune=tc.autotune,
                                          dev=train.take(dev_idx), autotune_duration=tc.autotune_duration)
            head_params = tuned.params
        student = FastTextStudent.train(train, tc.fasttext_params(), tc.context_features, tc.context_dropout,
                                        tc.seed, head_params=head_params)
        student.meta["autotune"] = tc.autotune
        return student

    def fit_transformer(self, train: Examples):
        from classifiers.transformer import TransformerStudent

        tc = self.tc
        tp = tc.transformer
        if tp.max_examples and len(train) > tp.max_examples:  # tests / smoke runs: a hash sample
            from classifiers.features import split_bucket

            order = sorted(range(len(train)), key=lambda i: (split_bucket(train.key[i], tc.seed), i))
            train = train.take(sorted(order[:tp.max_examples]))
        fit_idx, dev_idx = stratified_split(train, tc.dev_fraction, tc.seed + 1)
        params = tp.model_dump(exclude={"encoder", "device", "predict_batch_size", "max_examples"})
        return TransformerStudent.train(train.take(fit_idx), train.take(dev_idx), encoder=tp.encoder, params=params,
                                        context_features=tc.context_features, context_dropout=tc.context_dropout,
                                        seed=tc.seed, device=tp.device)

    def fit_distilled(self, teacher, pool: Examples, gold: Examples):
        """The linear student on gold rows (their labels, or their LLM soft targets) plus the
        teacher's probabilities on the pool as soft targets."""
        from classifiers.linear_student import LinearStudent

        tc = self.tc
        soft = teacher_soft_targets(teacher, pool, tc.transformer.predict_batch_size)
        data = gold.concat(soft) if len(gold) else soft
        data.weight = [1.0] * len(gold) + [tc.distill.pool_weight] * len(soft)
        model = LinearStudent.train(data, tc.linear.model_dump(), tc.context_features, tc.context_dropout, tc.seed)
        info = {"n_pool": len(soft), "n_gold": len(gold), "teacher": teacher.version,
                "pool_weight": tc.distill.pool_weight, "targets": "teacher probabilities (soft)"}
        model.meta.update({"student": "distilled", "distill": info})
        return model, info


def teacher_soft_targets(teacher, pool: Examples, batch_size: int = 256) -> Examples:
    """The pool with the teacher's argmax labels and its full probability vectors as soft targets."""
    preds = teacher.predict(pool.text, pool.context, batch_size=batch_size)
    if preds.score_probs is not None:
        score_soft = preds.score_probs.tolist()
    else:  # regression score head: a two-point distribution around the predicted value
        score_soft = []
        for v in np.clip(preds.educational_score, 1, 5):
            q = [0.0] * 5
            lo = int(np.floor(v))
            frac = float(v - lo)
            q[lo - 1] += 1 - frac
            if frac > 0:
                q[lo] += frac
            score_soft.append(q)
    return Examples(text=list(pool.text),
                    labels={DOCUMENT_TYPE.name: preds.document_type, DOMAIN.name: preds.domain,
                            EDUCATIONAL_SCORE.name: preds.score_class},
                    context=dict(pool.context), key=list(pool.key),
                    soft={DOCUMENT_TYPE.name: preds.document_type_scores.tolist(),
                          DOMAIN.name: preds.domain_scores.tolist(), EDUCATIONAL_SCORE.name: score_soft})
