"""Planted duplicates with known Jaccard, for tests and the benchmark.

Real paragraph texts are copied with controlled edits (word substitutions, insertions, deletions,
reordering, cosmetic changes that normalise away); the exact Jaccard of every planted pair is
computed from the shingle sets, so precision and recall are measured against ground truth rather
than assumed from the edit size.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from pipeline.dedup.jaccard import jaccard
from pipeline.dedup.normalize import normalize
from pipeline.dedup.shingles import shingle_strings


def load_texts(path: str | Path, min_words: int = 40) -> list[str]:
    """Distinct paragraph texts (by normalised form) with at least ``min_words`` words."""
    seen: set[str] = set()
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line).get("text") or ""
            norm = normalize(text)
            if len(norm.split(" ")) >= min_words and norm not in seen:
                seen.add(norm)
                out.append(text)
    return out


def shingle_set(text: str, n: int = 5) -> set[str]:
    return set(shingle_strings(normalize(text), n))


def exact_jaccard(a: str, b: str, n: int = 5) -> float:
    return jaccard(shingle_set(a, n), shingle_set(b, n))


def _positions(n_words: int, k: int, rng: random.Random) -> list[int]:
    return sorted(rng.sample(range(n_words), min(k, n_words)))


def substitute(text: str, k: int, rng: random.Random) -> str:
    words = text.split()
    for i in _positions(len(words), k, rng):
        words[i] = f"subst{rng.randrange(10**6)}"
    return " ".join(words)


def insert(text: str, k: int, rng: random.Random) -> str:
    words = text.split()
    for i in reversed(_positions(len(words), k, rng)):
        words.insert(i, f"ins{rng.randrange(10**6)}")
    return " ".join(words)


def delete(text: str, k: int, rng: random.Random) -> str:
    words = text.split()
    drop = set(_positions(len(words), k, rng))
    return " ".join(w for i, w in enumerate(words) if i not in drop)


def reorder(text: str, rng: random.Random) -> str:
    """Swap the two halves at a random cut: only the shingles across the cuts change."""
    words = text.split()
    cut = rng.randrange(len(words) // 4, 3 * len(words) // 4)
    return " ".join(words[cut:] + words[:cut])


def cosmetic(text: str) -> str:
    """Same normalised text: case, spacing and punctuation changes only."""
    return "  " + text.upper().replace(" ", "  ").replace(",", " ,") + " ."


def perturb(text: str, kind: str, k: int, rng: random.Random) -> str:
    if kind == "substitute":
        return substitute(text, k, rng)
    if kind == "insert":
        return insert(text, k, rng)
    if kind == "delete":
        return delete(text, k, rng)
    if kind == "reorder":
        return reorder(text, rng)
    if kind == "cosmetic":
        return cosmetic(text)
    raise ValueError(kind)


def articles_table(article_ids: Iterable[str], meta: dict[str, dict] | None = None) -> pa.Table:
    """An ARTICLES-schema table for synthetic article ids (defaults: CC BY, 2020)."""
    from schemas.ingest import ARTICLES

    meta = meta or {}
    rows = []
    for aid in sorted(set(article_ids)):
        m = {"license": "CC BY", "commercial": True, "year": 2020,
             "last_updated": datetime(2021, 1, 1, tzinfo=timezone.utc), **meta.get(aid, {})}
        rows.append({"article_id": aid, "pmid": None, "doi": None, "title": None, "journal": None,
                     "year": m["year"], "article_type": "research-article", "license": m["license"],
                     "license_url": None, "commercial": m["commercial"], "retracted": False, "language": "en",
                     "source": f"synthetic::{aid}", "last_updated": m["last_updated"], "n_paragraphs": 0})
    return pa.Table.from_pylist(rows, schema=ARTICLES)


def paragraphs_table(rows: list[tuple[str, int, str]]) -> pa.Table:
    """A PARAGRAPHS-schema table from (article_id, ordinal, text) rows."""
    from schemas.ingest import PARAGRAPHS

    return pa.Table.from_pylist(
        [{"paragraph_id": f"{aid}:{ordinal:05d}", "article_id": aid, "ordinal": ordinal, "zone": "body",
          "section_path": [], "xml_path": f"body/p[{ordinal}]", "text": text, "n_words": len(text.split()),
          "language": "en", "language_score": 1.0} for aid, ordinal, text in rows],
        schema=PARAGRAPHS)


def write_run(run, paragraphs: pa.Table, articles: pa.Table, rows_per_file: int = 50_000) -> None:
    """Publish paragraphs/ and articles/ into a RunDir the way ingest does (atomic, with markers)."""
    from pipeline.rundir import write_parquet_atomic

    for name, table in (("paragraphs", paragraphs), ("articles", articles)):
        tmp = run.tmp_path(name)
        tmp.mkdir(parents=True)
        for i, start in enumerate(range(0, max(table.num_rows, 1), rows_per_file)):
            write_parquet_atomic(table.slice(start, rows_per_file), tmp / f"part-{i:05d}.parquet")
        run.publish(tmp, name, {"rows": table.num_rows, "synthetic": True})
