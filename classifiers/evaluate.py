"""Score a student on held-out labelled examples: the per-head agreement block of reports/train.json."""

from __future__ import annotations

from classifiers.dataset import Examples
from classifiers.heads import DOCUMENT_TYPE, DOMAIN, EDUCATIONAL_SCORE
from classifiers.metrics import classification_metrics, score_metrics


def evaluate(student, held: Examples, batch_size: int = 256) -> dict:
    preds = student.predict(held.text, held.context, batch_size=batch_size)
    truth_score = [int(v) for v in held.labels[EDUCATIONAL_SCORE.name]]
    return {
        DOCUMENT_TYPE.name: classification_metrics(held.labels[DOCUMENT_TYPE.name], preds.document_type,
                                                   DOCUMENT_TYPE.classes),
        DOMAIN.name: classification_metrics(held.labels[DOMAIN.name], preds.domain, DOMAIN.classes),
        EDUCATIONAL_SCORE.name: {
            **score_metrics(truth_score, preds.educational_score),
            "as_classes": classification_metrics(held.labels[EDUCATIONAL_SCORE.name], preds.score_class,
                                                 EDUCATIONAL_SCORE.classes),
        },
    }
