"""How many times a row is repeated (pure Python). Duplicates never reach this point: the emit
job removes every paragraph flagged by dedup before filtering, so a duplicate cannot be upsampled."""

from __future__ import annotations

import math
from typing import Any

from pipeline.emit.filters import condition_holds
from pipeline.emit.recipe import Upsample


def upsample_factor(paragraphs: list[dict[str, Any]], up: Upsample,
                    article: dict[str, Any] | None = None) -> tuple[int, list[str]]:
    """(factor, names of the rules that matched). 1 when no rule matches."""
    matched = [r for r in up.rules if condition_holds(paragraphs, r.when, article)]
    if not matched:
        return 1, []
    factors = [r.factor for r in matched]
    factor = max(factors) if up.combine == "max" else math.prod(factors)
    return min(factor, up.max_factor), [r.name for r in matched]
