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


def write_student_card(path, kind: str, version: str, meta: dict, extra: dict | None, context_features,
                       params, **more) -> dict:
    """Write ``student.json`` of a saved student (what ``read_student_card`` checks) and return it."""
    import json
    from pathlib import Path

    card = {"student": kind, **meta, **(extra or {}), "kind": kind, "version": version,
            "context_features": list(context_features), "heads": {h.name: list(h.classes) for h in HEADS},
            "params": params, "score": "expected value over 5 classes", **more}
    (Path(path) / "student.json").write_text(json.dumps(card, indent=2, sort_keys=True, default=str))
    return card


def read_student_card(path, kind: str) -> dict:
    """Read ``student.json`` of a saved student and check it is of ``kind`` with this code's heads.

    A student saved with other class orders would silently mislabel every paragraph, so loading it
    is refused."""
    import json
    from pathlib import Path

    path = Path(path)
    card = json.loads((path / "student.json").read_text())
    if card.get("kind") != kind:
        raise ValueError(f"{path}: not a {kind} student (kind={card.get('kind')!r})")
    for head in HEADS:
        if card["heads"].get(head.name) != list(head.classes):
            raise ValueError(f"{path}: {head.name} classes {card['heads'].get(head.name)} differ from "
                             f"this code's {list(head.classes)}")
    return card
