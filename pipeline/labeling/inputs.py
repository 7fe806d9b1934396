"""Reading the paragraphs to label and label files to import (JSONL or Parquet), and mapping texts
to run paragraph_ids by hash."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import pyarrow.dataset as ds

log = logging.getLogger(__name__)


def read_records(path: str | Path, columns: Iterable[str] | None = None) -> list[dict]:
    """Rows of a JSONL file, a Parquet file, or a folder of Parquet files (a run table).

    A JSONL line that is not a JSON object becomes ``{"_bad_line": n, "_raw": line}`` so callers
    can record it instead of crashing or dropping it silently."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix == ".parquet":
        dataset = ds.dataset(str(path), format="parquet", exclude_invalid_files=True)
        cols = [c for c in columns if c in dataset.schema.names] if columns else None
        return dataset.to_table(columns=cols).to_pylist()
    rows: list[dict] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            rows.append(obj if isinstance(obj, dict) else {"_bad_line": n, "_raw": line.rstrip("\n")[:2000]})
    return rows


def normalised_hash(text: str) -> str:
    """Hash of the whitespace-normalised text: matches a paragraph however its spaces were kept."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()


def paragraph_ids_by_text(paragraphs: Path, texts: Iterable[str]) -> dict[str, str]:
    """normalised_hash → paragraph_id for the given texts found in a paragraphs table (the smallest
    id when several paragraphs share a text). Only paragraphs whose normalised length matches one
    of the wanted texts are hashed, so a large table scans fast."""
    wanted = {normalised_hash(t) for t in texts if t}
    lengths = {len(" ".join(t.split())) for t in texts if t}
    found: dict[str, str] = {}
    if not wanted or not Path(paragraphs).exists():
        return found
    dataset = ds.dataset(str(paragraphs), format="parquet", exclude_invalid_files=True)
    for batch in dataset.to_batches(columns=["paragraph_id", "text"]):
        ids = batch.column("paragraph_id").to_pylist()
        for pid, text in zip(ids, batch.column("text").to_pylist()):
            if not text:
                continue
            norm = " ".join(text.split())
            if len(norm) not in lengths:
                continue
            h = hashlib.sha1(norm.encode("utf-8")).hexdigest()
            if h in wanted and (h not in found or pid < found[h]):
                found[h] = pid
    return found

