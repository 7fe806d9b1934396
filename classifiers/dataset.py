"""Labelled examples for the students: loading, validation and the deterministic split.

Pure Python + pyarrow. A label file is JSONL or Parquet with ``text`` and the three label
columns (``document_type``, ``domain``, ``educational_score``); rows from the ``labels/`` table
also carry ``status`` (only ``ok`` rows are used) and ``text_hash``. Optional context columns:
``section`` (nearest title) or ``section_path`` (list), ``zone``, ``article_type``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from classifiers.features import split_bucket, text_hash
from classifiers.heads import DOCUMENT_TYPE, DOMAIN, SCORE_VALUES

log = logging.getLogger(__name__)

# The label stage's optional soft targets (issue 14): list<float32> in the heads' class orders,
# or for the score the probabilities of 1..5.
SOFT_COLUMNS = {DOCUMENT_TYPE.name: "document_type_probs", DOMAIN.name: "domain_probs",
                "educational_score": "educational_score_probs"}


@dataclass
class Examples:
    """Column lists of equal length; ``labels`` maps head name → list of class strings."""

    text: list[str]
    labels: dict[str, list[str]] = field(default_factory=dict)
    context: dict[str, list[Any]] = field(default_factory=dict)  # section, zone, article_type
    key: list[str] = field(default_factory=list)  # stable id used by the split (text hash)
    # The article a row came from (label file: ``source``; run labels: ``article_id``): the unit
    # of grouped cross-validation, so no article sits on both sides of a fold. Empty: unknown.
    group: list[str] = field(default_factory=list)
    # head → per-row target distribution (list of floats) or None: soft targets when present.
    soft: dict[str, list] = field(default_factory=dict)
    weight: list[float] = field(default_factory=list)  # per-row training weight; empty: all 1

    def __len__(self) -> int:
        return len(self.text)

    def take(self, idx: list[int]) -> "Examples":
        return Examples(text=[self.text[i] for i in idx],
                        labels={k: [v[i] for i in idx] for k, v in self.labels.items()},
                        context={k: [v[i] for i in idx] for k, v in self.context.items()},
                        key=[self.key[i] for i in idx],
                        group=[self.group[i] for i in idx] if self.group else [],
                        soft={k: [v[i] for i in idx] for k, v in self.soft.items()},
                        weight=[self.weight[i] for i in idx] if self.weight else [])

    def concat(self, other: "Examples") -> "Examples":
        heads = set(self.labels) & set(other.labels)
        ctx = set(self.context) | set(other.context)
        return Examples(
            text=self.text + other.text,
            labels={h: self.labels[h] + other.labels[h] for h in heads},
            context={c: self.context.get(c, [None] * len(self)) + other.context.get(c, [None] * len(other))
                     for c in ctx},
            key=self.key + other.key,
            group=(self.group or [""] * len(self)) + (other.group or [""] * len(other))
            if (self.group or other.group) else [],
            soft={h: self.soft.get(h, [None] * len(self)) + other.soft.get(h, [None] * len(other))
                  for h in set(self.soft) | set(other.soft)},
            weight=(self.weight or [1.0] * len(self)) + (other.weight or [1.0] * len(other))
            if (self.weight or other.weight) else [])

    def context_row(self, i: int) -> dict[str, Any]:
        return {k: v[i] for k, v in self.context.items()}


def read_table(path: str | Path) -> pa.Table:
    """A JSONL (.jsonl/.json/.ndjson) or Parquet file, or a folder of Parquet files."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix == ".parquet":
        return pq.read_table(path) if path.is_file() else _read_parquet_dir(path)
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        from pyarrow import json as pajson
        # A big block size: a JSONL row (one long paragraph) must fit in one block.
        return pajson.read_json(path, read_options=pajson.ReadOptions(block_size=1 << 26))
    raise ValueError(f"{path}: expected .jsonl, .parquet or a folder of Parquet files")


def _read_parquet_dir(path: Path) -> pa.Table:
    import pyarrow.dataset as ds
    files = sorted(str(p) for p in path.rglob("*.parquet") if not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
    if not files:
        raise ValueError(f"{path}: no Parquet files")
    return ds.dataset(files, format="parquet").to_table()


def examples_from_table(table: pa.Table, source: str = "", soft_targets: bool = False) -> tuple[Examples, dict[str, int]]:
    """Validated examples from a label table; bad rows are counted by reason, never silently kept.

    Groups (for grouped cross-validation) come from ``article_id`` when the table has it (labels
    from a run), else ``source`` (a label file: the article file, ``#`` its index). With
    ``soft_targets`` the label stage's ``*_probs`` columns are read when present (null per row:
    that row falls back to its hard label)."""
    cols = set(table.column_names)
    missing = {"text", DOCUMENT_TYPE.name, DOMAIN.name, "educational_score"} - cols
    if missing:
        raise ValueError(f"{source or 'labels'}: missing columns {sorted(missing)}")
    data = table.to_pydict()
    n = table.num_rows
    skipped: dict[str, int] = defaultdict(int)
    keep: list[int] = []
    valid_type, valid_domain = set(DOCUMENT_TYPE.classes), set(DOMAIN.classes)
    for i in range(n):
        if "status" in cols and data["status"][i] != "ok":
            skipped["status_not_ok"] += 1
        elif not data["text"][i] or not str(data["text"][i]).strip():
            skipped["empty_text"] += 1
        elif data[DOCUMENT_TYPE.name][i] not in valid_type:
            skipped["invalid_document_type"] += 1
        elif data[DOMAIN.name][i] not in valid_domain:
            skipped["invalid_domain"] += 1
        elif _as_score(data["educational_score"][i]) is None:
            skipped["invalid_educational_score"] += 1
        else:
            keep.append(i)
    texts = [data["text"][i] for i in keep]
    hashes = data.get("text_hash")
    ex = Examples(
        text=texts,
        labels={DOCUMENT_TYPE.name: [data[DOCUMENT_TYPE.name][i] for i in keep],
                DOMAIN.name: [data[DOMAIN.name][i] for i in keep],
                "educational_score": [str(_as_score(data["educational_score"][i])) for i in keep]},
        context=_context_columns(data, keep),
        key=[hashes[i] if hashes and hashes[i] else text_hash(data["text"][i]) for i in keep],
        group=_groups(data, keep),
        soft={h: [data[c][i] for i in keep] for h, c in SOFT_COLUMNS.items() if soft_targets and c in data})
    if skipped:
        log.warning("%s: skipped %d of %d label rows: %s", source or "labels", sum(skipped.values()), n, dict(skipped))
    return ex, dict(skipped)


def _as_score(value: Any) -> int | None:
    try:
        if isinstance(value, bool) or value is None:
            return None
        f = float(value)
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() and int(f) in SCORE_VALUES else None


def _groups(data: dict[str, list], keep: list[int]) -> list[str]:
    """The article of each row: its ``source`` (the run article's path, or the label file's
    "file#index"), else its ``article_id``; "" when neither. Paths keep the collection visible for
    the per-collection breakdown; ``labels.article_key`` makes the forms comparable."""
    sources, ids = data.get("source"), data.get("article_id")
    if not any((sources and sources[i]) or (ids and ids[i]) for i in keep):
        return []
    return [str((sources and sources[i]) or (ids and ids[i]) or "") for i in keep]


def _context_columns(data: dict[str, list], keep: list[int]) -> dict[str, list]:
    ctx: dict[str, list] = {}
    if "section_path" in data:
        ctx["section"] = [data["section_path"][i] for i in keep]
    elif "section" in data:
        ctx["section"] = [data["section"][i] for i in keep]
    for col in ("zone", "article_type"):
        if col in data:
            ctx[col] = [data[col][i] for i in keep]
    return ctx


def stratified_split(ex: Examples, fraction: float, seed: int = 0,
                     strata: tuple[str, ...] = (DOCUMENT_TYPE.name, DOMAIN.name)) -> tuple[list[int], list[int]]:
    """Deterministic stratified split → (train indices, held-out indices).

    Within each stratum (combination of ``strata`` labels) rows are ordered by a hash of their key
    and the first ``round(fraction * n)`` go to the held-out side (at least one when the stratum
    has ≥ 2 rows), so the split depends only on the rows, never on their order or an RNG.
    Duplicate texts share a key and therefore a side: no leakage between train and held-out.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    groups: dict[tuple, list[int]] = defaultdict(list)
    first_label: dict[str, tuple] = {}
    for i in range(len(ex)):
        # Rows with the same key follow the first occurrence's stratum (they are one text).
        stratum = first_label.setdefault(ex.key[i], tuple(ex.labels[s][i] for s in strata))
        groups[stratum].append(i)
    held: set[str] = set()
    for stratum in sorted(groups):
        keys = sorted({ex.key[i] for i in groups[stratum]}, key=lambda k: (split_bucket(k, seed), k))
        n_held = round(fraction * len(keys))
        if n_held == 0 and len(keys) >= 2:
            n_held = 1
        held.update(keys[:n_held])
    train = [i for i in range(len(ex)) if ex.key[i] not in held]
    heldout = [i for i in range(len(ex)) if ex.key[i] in held]
    return train, heldout
