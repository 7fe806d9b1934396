"""What every student returns for a batch of paragraphs, in the fixed class orders of heads.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from classifiers.heads import DOCUMENT_TYPE, DOMAIN, SCORE_VALUES

SCORE_ARRAY = np.asarray(SCORE_VALUES, dtype=np.float32)


@dataclass
class Predictions:
    document_type_scores: np.ndarray  # (n, 4) float32, DOCUMENT_TYPES order, rows sum to 1
    domain_scores: np.ndarray  # (n, 3) float32, DOMAINS order
    educational_score: np.ndarray  # (n,) float32 in [1, 5]
    score_probs: np.ndarray | None = None  # (n, 5) when the score head is a 5-class head

    def __len__(self) -> int:
        return len(self.educational_score)

    @property
    def document_type(self) -> list[str]:
        return _argmax_labels(self.document_type_scores, DOCUMENT_TYPE.classes)

    @property
    def domain(self) -> list[str]:
        return _argmax_labels(self.domain_scores, DOMAIN.classes)

    @property
    def score_class(self) -> list[str]:
        """The score as a class label ("1".."5"): argmax of the 5-class head, else the rounded value."""
        if self.score_probs is not None:
            idx = self.score_probs.argmax(axis=1)
            return [str(SCORE_VALUES[i]) for i in idx]
        return [str(int(v)) for v in np.clip(np.rint(self.educational_score), 1, 5)]

    @staticmethod
    def concat(parts: list["Predictions"]) -> "Predictions":
        if not parts:
            return Predictions(np.zeros((0, len(DOCUMENT_TYPE.classes)), np.float32),
                               np.zeros((0, len(DOMAIN.classes)), np.float32), np.zeros(0, np.float32))
        probs = [p.score_probs for p in parts]
        return Predictions(np.concatenate([p.document_type_scores for p in parts]),
                           np.concatenate([p.domain_scores for p in parts]),
                           np.concatenate([p.educational_score for p in parts]),
                           None if any(p is None for p in probs) else np.concatenate(probs))

    def to_pydict(self) -> dict[str, list]:
        """Column lists named as in the annotations table (minus paragraph_id / version)."""
        return {
            "document_type": self.document_type,
            "document_type_scores": self.document_type_scores.astype(np.float32).tolist(),
            "domain": self.domain,
            "domain_scores": self.domain_scores.astype(np.float32).tolist(),
            "educational_score": self.educational_score.astype(np.float32).tolist(),
        }


def expected_score(probs: np.ndarray) -> np.ndarray:
    """Expected value of the 5-class score distribution: a continuous score in [1, 5]."""
    return (probs @ SCORE_ARRAY).astype(np.float32)


def _argmax_labels(scores: np.ndarray, classes: tuple[str, ...]) -> list[str]:
    return [classes[i] for i in scores.argmax(axis=1)] if len(scores) else []
