"""Cascade: the transformer student labels a large paragraph set, fastText learns from those labels.

The transformer is the better student but costs a GPU; fastText annotates the whole corpus on CPUs.
Training fastText on the transformer's pseudo-labels of many unlabelled paragraphs (plus the gold
LLM labels) moves it towards the transformer's quality at fastText's speed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from classifiers.dataset import Examples
from classifiers.fasttext_student import FastTextStudent
from classifiers.heads import DOCUMENT_TYPE, DOMAIN, EDUCATIONAL_SCORE

log = logging.getLogger(__name__)


def pseudo_label(teacher, unlabelled: Examples, batch_size: int = 256) -> Examples:
    """The teacher's argmax labels for every unlabelled paragraph (score: its 5-class argmax, or the
    rounded regression)."""
    preds = teacher.predict(unlabelled.text, unlabelled.context, batch_size=batch_size)
    return Examples(text=list(unlabelled.text),
                    labels={DOCUMENT_TYPE.name: preds.document_type, DOMAIN.name: preds.domain,
                            EDUCATIONAL_SCORE.name: preds.score_class},
                    context=dict(unlabelled.context), key=list(unlabelled.key))


def train_cascade(teacher, unlabelled: Examples, gold: Examples | None = None,
                  params: dict[str, Any] | None = None, context_features: Sequence[str] = (),
                  context_dropout: float = 0.25, seed: int = 0, exclude_keys: set[str] | None = None,
                  batch_size: int = 256) -> tuple[FastTextStudent, dict]:
    """Pseudo-label ``unlabelled`` with ``teacher`` and train fastText on them (+ ``gold``).

    ``exclude_keys``: keys (text hashes) that must not be pseudo-labelled, i.e. the held-out
    evaluation paragraphs, so the cascade is not evaluated on texts it trained on.
    """
    if exclude_keys:
        keep = [i for i, k in enumerate(unlabelled.key) if k not in exclude_keys]
        dropped = len(unlabelled) - len(keep)
        unlabelled = unlabelled.take(keep)
    else:
        dropped = 0
    if len(unlabelled) == 0 and (gold is None or len(gold) == 0):
        raise ValueError("cascade: nothing to train on (no unlabelled paragraphs and no gold labels)")
    log.info("cascade: pseudo-labelling %d paragraphs with the %s student", len(unlabelled), teacher.kind)
    pseudo = pseudo_label(teacher, unlabelled, batch_size) if len(unlabelled) else None
    data = pseudo if pseudo is not None else gold
    if pseudo is not None and gold is not None and len(gold):
        data = gold.concat(pseudo)
    student = FastTextStudent.train(data, params, context_features, context_dropout, seed)
    info = {"n_pseudo": len(unlabelled), "n_gold": len(gold) if gold is not None else 0,
            "excluded_heldout": dropped, "teacher": teacher.version,
            "pseudo_label_counts": {h: _counts(pseudo.labels[h]) for h in pseudo.labels} if pseudo else {}}
    student.meta.update({"student": "cascade", "cascade": info})
    return student, info


def _counts(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))
