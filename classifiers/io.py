"""Batch scoring of tables for `predict` (pure pyarrow, no Spark): rows in, annotation columns out."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from classifiers.predictions import Predictions

log = logging.getLogger(__name__)

CONTEXT_INPUTS = ("section", "section_path", "zone", "article_type")


def context_from_columns(data: dict[str, list]) -> dict[str, list]:
    """The context a student understands, from whichever columns a table has."""
    ctx: dict[str, list] = {}
    if "section_path" in data:
        ctx["section"] = data["section_path"]
    elif "section" in data:
        ctx["section"] = data["section"]
    for c in ("zone", "article_type"):
        if c in data:
            ctx[c] = data[c]
    return ctx


def prediction_arrays(preds: Predictions) -> dict[str, pa.Array]:
    """Arrow columns for the annotation fields (score vectors as list<float32>, fixed order)."""
    n = len(preds)

    def lists(m: np.ndarray) -> pa.Array:
        k = m.shape[1]
        offsets = pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, pa.array(m.astype(np.float32).ravel()))

    return {
        "document_type": pa.array(preds.document_type, pa.string()),
        "document_type_scores": lists(preds.document_type_scores),
        "domain": pa.array(preds.domain, pa.string()),
        "domain_scores": lists(preds.domain_scores),
        "educational_score": pa.array(preds.educational_score.astype(np.float32)),
    }


def score_table(student, table: pa.Table, schema: pa.Schema, version: str, id_column: str = "id",
                batch_size: int = 8192, stats: dict | None = None) -> Iterator[pa.RecordBatch]:
    """Score every row with a usable ``text``; rows without text are counted (``stats``), logged
    and skipped."""
    from tqdm import tqdm

    if "text" not in table.column_names:
        raise ValueError("input has no `text` column")
    has_id = id_column in table.column_names
    skipped = 0
    with tqdm(total=table.num_rows, unit="para", desc="predict", disable=table.num_rows < 50_000) as bar:
        for batch in table.to_batches(max_chunksize=batch_size):
            data = batch.to_pydict()
            keep = [i for i, t in enumerate(data["text"]) if isinstance(t, str) and t.strip()]
            if len(keep) < batch.num_rows:
                kept = set(keep)
                bad = [data[id_column][i] if has_id else i for i in range(batch.num_rows) if i not in kept]
                skipped += len(bad)
                log.warning("%d rows without text skipped (ids: %s)", len(bad), bad[:10])
                data = {k: [v[i] for i in keep] for k, v in data.items()}
            bar.update(batch.num_rows)
            if not keep:
                continue
            preds = student.predict(data["text"], context_from_columns(data))
            cols = prediction_arrays(preds)
            ids = [None if v is None else str(v) for v in data[id_column]] if has_id else [None] * len(keep)
            cols[schema.names[0]] = pa.array(ids, pa.string())
            cols["classifier_version"] = pa.array([version] * len(keep), pa.string())
            yield pa.RecordBatch.from_arrays([cols[f.name] for f in schema if f.name in cols],
                                             schema=pa.schema([f for f in schema if f.name in cols]))
    if stats is not None:
        stats["skipped_no_text"] = skipped


def write_predictions(batches: Iterator[pa.RecordBatch], schema: pa.Schema, out: str | Path) -> int:
    """JSONL (.jsonl/.json) or Parquet (.parquet), written to a temp file then renamed."""
    import json

    import pyarrow.parquet as pq

    from pipeline.rundir import atomic_path

    out = Path(out)
    if out.suffix not in (".parquet", ".jsonl", ".json", ".ndjson"):
        raise ValueError(f"{out}: output must end in .jsonl or .parquet")
    n = 0
    with atomic_path(out) as tmp:
        if out.suffix == ".parquet":
            with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
                for b in batches:
                    w.write_batch(b)
                    n += b.num_rows
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                for b in batches:
                    for row in b.to_pylist():
                        fh.write(json.dumps({k: (round(v, 6) if isinstance(v, float) else
                                                 [round(x, 6) for x in v] if isinstance(v, list) else v)
                                             for k, v in row.items()}, ensure_ascii=False) + "\n")
                    n += b.num_rows
    return n
