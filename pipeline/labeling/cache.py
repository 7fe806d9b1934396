"""Append-only label cache: Parquet chunk files written atomically, keyed by
hash(model, prompt_version, text). A killed run loses at most the results not yet flushed; a rerun
skips every cached key, so nothing is labelled twice."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.labeling.core import Outcome
from pipeline.rundir import write_parquet_atomic

log = logging.getLogger(__name__)

CACHE = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("prompt_version", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("document_type", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("educational_score", pa.int8()),
        pa.field("language", pa.string()),
        pa.field("invalid_reason", pa.string()),
        pa.field("raw_response", pa.string()),
        pa.field("attempts", pa.int16()),
        pa.field("prompt_tokens", pa.int32()),
        pa.field("completion_tokens", pa.int32()),
        pa.field("created_at", pa.timestamp("s", tz="UTC"), nullable=False),
    ]
)


class LabelCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def chunks(self) -> list[Path]:
        return sorted(self.root.glob("chunk-*.parquet")) if self.root.exists() else []

    def load(self, model: str, prompt_version: str) -> dict[str, dict]:
        """Cached rows for this model and prompt, by key (a valid row wins over an invalid one)."""
        rows: dict[str, dict] = {}
        for path in self.chunks():
            table = pq.read_table(path, schema=CACHE)
            for row in table.to_pylist():
                if row["model"] != model or row["prompt_version"] != prompt_version:
                    continue
                prev = rows.get(row["key"])
                if prev is None or (prev["status"] != "ok" and row["status"] == "ok"):
                    rows[row["key"]] = row
        return rows

    def write_chunk(self, outcomes: list[Outcome], model: str, prompt_version: str) -> Path | None:
        if not outcomes:
            return None
        rows = [_row(o, model, prompt_version) for o in outcomes]
        name = f"chunk-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        path = self.root / name
        write_parquet_atomic(pa.Table.from_pylist(rows, schema=CACHE), path)
        return path


def _row(o: Outcome, model: str, prompt_version: str) -> dict:
    label = o.label
    return {
        "key": o.key,
        "model": model,
        "prompt_version": prompt_version,
        "status": "ok" if label is not None else "invalid",
        "document_type": label.document_type if label else None,
        "domain": label.domain if label else None,
        "educational_score": label.educational_score if label else None,
        "language": label.language if label else None,
        "invalid_reason": None if label else o.reason,
        "raw_response": None if label else o.raw,
        "attempts": o.attempts,
        "prompt_tokens": o.prompt_tokens,
        "completion_tokens": o.completion_tokens,
        "created_at": datetime.fromtimestamp(int(o.created_at), tz=timezone.utc),
    }


class CacheWriter:
    """Buffers outcomes and flushes a chunk every ``chunk_size`` results or ``interval_s`` seconds."""

    def __init__(self, cache: LabelCache, model: str, prompt_version: str, chunk_size: int = 256,
                 interval_s: float = 10.0):
        self.cache, self.model, self.prompt_version = cache, model, prompt_version
        self.chunk_size, self.interval_s = max(1, chunk_size), interval_s
        self._buffer: list[Outcome] = []
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self.written = 0

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self._buffer.append(outcome)
            due = len(self._buffer) >= self.chunk_size or time.monotonic() - self._last >= self.interval_s
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._last = time.monotonic()
        if batch:
            self.cache.write_chunk(batch, self.model, self.prompt_version)
            self.written += len(batch)
