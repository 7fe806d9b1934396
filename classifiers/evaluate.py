"""Score a student on labelled examples: the per-head agreement block of reports/train.json."""

from __future__ import annotations

from classifiers.crossval import evaluate_predictions
from classifiers.dataset import Examples


def evaluate(student, held: Examples, batch_size: int = 256) -> dict:
    return evaluate_predictions(student.predict(held.text, held.context, batch_size=batch_size), held)
