"""The three prediction heads and their fixed class orders.

The orders come from ``schemas.labels`` (class index = position); every score vector a student
writes (``document_type_scores``, ``domain_scores``) follows them, so they are part of the
annotations contract. Never reorder.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.labels import DOCUMENT_TYPES, DOMAINS, SCORES


@dataclass(frozen=True)
class Head:
    name: str  # the label column it predicts
    classes: tuple[str, ...]  # fixed order, as strings (scores "1".."5")


DOCUMENT_TYPE = Head("document_type", tuple(DOCUMENT_TYPES))
DOMAIN = Head("domain", tuple(DOMAINS))
EDUCATIONAL_SCORE = Head("educational_score", tuple(str(s) for s in SCORES))
HEADS: tuple[Head, ...] = (DOCUMENT_TYPE, DOMAIN, EDUCATIONAL_SCORE)
SCORE_VALUES: tuple[int, ...] = tuple(SCORES)
KEEP_THRESHOLD = 3  # the paper keeps paragraphs with educational_score >= 3
