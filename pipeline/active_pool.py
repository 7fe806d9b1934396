"""An active-learning batch from a candidate pool and the current student (no Spark).

The sample stage collects the candidates (eligible, non-duplicate, not yet labelled; at most
``sample.pool_limit`` of them in hash order) and hands them here with the student folder; this
scores them through the students' public predict interface and returns which rows to label and why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import active
from pipeline.errors import UserError

log = logging.getLogger(__name__)

HEAD_NAMES = ("document_type", "domain", "educational_score")


def load_current_student(model_dir: str | Path):
    """The default student of a ``model/`` folder (``train``'s output)."""
    from classifiers.students import load_student, resolve_student_dir

    try:
        return load_student(resolve_student_dir(model_dir))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"no usable student in {model_dir}: {exc}",
                        hint="run `pmc-enrich train` after labelling a first (stratified) sample") from None


def head_probabilities(student, texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None) -> dict[str, np.ndarray]:
    """Per-head class probabilities from ``student.predict`` (classifiers.predictions.Predictions)."""
    preds = student.predict(list(texts), context)
    probs = {"document_type": np.asarray(preds.document_type_scores), "domain": np.asarray(preds.domain_scores)}
    if preds.score_probs is not None:
        probs["educational_score"] = np.asarray(preds.score_probs)
    return probs


def student_features(student, texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None,
                     probs: Mapping[str, np.ndarray]) -> np.ndarray:
    """What the student sees of a paragraph: a fastText student's sentence vector (its learned
    input embedding averaged over the text), else its concatenated head probabilities."""
    models = getattr(student, "models", None)
    model = models.get("document_type") if isinstance(models, dict) else None
    if model is not None and hasattr(model, "get_sentence_vector"):
        from classifiers.fasttext_student import build_inputs

        lines = build_inputs(list(texts), context, getattr(student, "context_features", ()))
        return np.stack([model.get_sentence_vector(line) for line in lines]).astype(np.float32)
    return np.concatenate([probs[h] for h in HEAD_NAMES if h in probs], axis=1).astype(np.float32)


def choose(strategy: str, ids: Sequence[str], texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None,
           student, size: int, *, random_share: float, method: str, seed: int, candidates: int = 4,
           head_weights: Mapping[str, float] | None = None,
           labelled_texts: Sequence[str] = (), labelled_context: Mapping[str, Sequence[Any]] | None = None
           ) -> list[tuple[int, str]]:
    """(row index, strategy) for ``size`` rows of the candidates."""
    if strategy not in ("uncertainty", "diverse"):
        raise ValueError(f"not an active strategy: {strategy!r}")
    if not ids or size <= 0:
        return []
    probs = head_probabilities(student, texts, context)
    scores = active.uncertainty(probs, method, head_weights)
    if strategy == "uncertainty":
        return active.select_uncertain(ids, scores, size, random_share, seed)
    features = student_features(student, texts, context, probs)
    labelled = None
    if labelled_texts:
        lprobs = head_probabilities(student, labelled_texts, labelled_context)
        labelled = student_features(student, labelled_texts, labelled_context, lprobs)
    return active.select_diverse(ids, scores, features, size, labelled, random_share, candidates, seed)
