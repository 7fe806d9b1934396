"""Which copy of a duplicate cluster is kept: one deterministic, documented order.

Lowest key wins:
  1. commercial licence first (a commercially usable copy keeps the text in every variant); an
     article without licence metadata counts as non-commercial,
  2. the earliest article: publication year, then last_updated (missing dates sort last),
  3. the lowest article_id, then the lowest ordinal (earliest position in the article),
  4. the paragraph_id (unique, so the order is total: no ties).
Strings compare by code point (Python) and by UTF-8 bytes (Spark), which is the same order.
``jobs/dedup.py: keep_key`` builds the same key as a Spark struct, whose ``min`` picks the kept
paragraph; ``tests/test_dedup_keep_order.py`` checks that both orders agree, on hand-made rows and
on the sample.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

KEEP_RULE_DOC = ("commercial licence first, then the earliest article (year, then last_updated; "
                 "missing dates last), then the lowest article_id, then the lowest ordinal, "
                 "then the lowest paragraph_id")

MISSING_YEAR = 9999
MISSING_TIME = datetime(9999, 12, 31, tzinfo=timezone.utc)


def keep_sort_key(row: dict[str, Any]) -> tuple:
    """Sort key of one paragraph row (keys: commercial, year, last_updated, article_id, ordinal,
    paragraph_id); the minimum is kept."""
    updated = row.get("last_updated")
    if updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=timezone.utc)
    return (
        0 if row.get("commercial") else 1,
        row.get("year") if row.get("year") is not None else MISSING_YEAR,
        updated if updated is not None else MISSING_TIME,
        row["article_id"],
        row["ordinal"],
        row["paragraph_id"],
    )
