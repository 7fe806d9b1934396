"""The durable answer cache: one SQLite database (WAL mode) per cache folder, keyed by
hash(model, prompt_version, text).

Every final outcome is committed when it arrives (``AnswerStore.put``), so a run killed with
SIGKILL loses only the requests in flight; a rerun skips every stored key, and the ``labels/``
table is compacted from the store at the end. WAL with ``synchronous=NORMAL`` survives a killed
process (the committed transaction is in the WAL file before ``put`` returns); an OS crash may
lose the last few commits but never corrupts the database.

One label run holds the cache at a time: an exclusive ``flock`` on ``.lock`` (released by the
kernel when the process dies, so a killed run never leaves a stale lock); a second run is refused
with a clear error. Chunk files written by earlier versions (``chunk-*.parquet``) are still read.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import UserError
from pipeline.labeling.core import Outcome

log = logging.getLogger(__name__)

DB_NAME = "answers.sqlite"
LOCK_NAME = ".lock"
PROB_FIELDS = ("document_type_probs", "domain_probs", "educational_score_probs")

# Schema of the chunk files earlier versions wrote (read for migration only).
LEGACY_CHUNK = pa.schema(
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

_COLUMNS = ("key", "model", "prompt_version", "status", "document_type", "domain", "educational_score",
            "language", "invalid_reason", "raw_response", "attempts", "prompt_tokens", "completion_tokens",
            "created_at", "document_type_probs", "domain_probs", "educational_score_probs",
            "educational_score_expected")

_CREATE = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    status TEXT NOT NULL,
    document_type TEXT, domain TEXT, educational_score INTEGER, language TEXT,
    invalid_reason TEXT, raw_response TEXT,
    attempts INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER,
    created_at INTEGER NOT NULL,
    document_type_probs TEXT, domain_probs TEXT, educational_score_probs TEXT,
    educational_score_expected REAL
)"""

# A valid answer replaces an invalid one for the same key, never the other way round.
_UPSERT = (f"INSERT INTO answers ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
           "ON CONFLICT(key) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in _COLUMNS[1:])
           + " WHERE answers.status != 'ok' AND excluded.status = 'ok'")


class CacheBusy(UserError):
    pass


class AnswerStore:
    """The cache folder's SQLite store. Use as a context manager: it takes the run lock."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._db: sqlite3.Connection | None = None
        self._lock_fh = None
        self._mutex = threading.Lock()
        self.written = 0

    # ---- lifetime ---------------------------------------------------------------------------
    def open(self) -> "AnswerStore":
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / LOCK_NAME, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise CacheBusy(f"{self.root}: another label run is using this cache ({holder})",
                            hint="wait for it to finish, or give this run its own --set label.cache_dir=DIR")
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        self._lock_fh = fh
        try:
            db = sqlite3.connect(self.root / DB_NAME, isolation_level=None, check_same_thread=False, timeout=30)
            self._db = db
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_CREATE)
            self._migrate_chunks()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise UserError(f"{self.root / DB_NAME}: not a usable label cache ({exc})",
                            hint="move the file away (its answers would be asked again) or give "
                                 "--set label.cache_dir=DIR") from None
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # a checkpoint is housekeeping only
                log.debug("wal checkpoint skipped: %s", exc)
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> "AnswerStore":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writing ----------------------------------------------------------------------------
    def put(self, outcome: Outcome, model: str, prompt_version: str) -> None:
        """Store one final outcome; durable against a killed process when this returns."""
        row = _row(outcome, model, prompt_version)
        with self._mutex:
            self._db.execute(_UPSERT, row)  # autocommit: one transaction per answer
            self.written += 1

    def put_many(self, outcomes: list[Outcome], model: str, prompt_version: str) -> None:
        """Store a small batch in one transaction (the offline engine's answers arrive together)."""
        if not outcomes:
            return
        rows = [_row(o, model, prompt_version) for o in outcomes]
        with self._mutex:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(_UPSERT, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self.written += len(rows)

    # ---- reading ----------------------------------------------------------------------------
    def load(self, model: str, prompt_version: str) -> dict[str, dict]:
        """Stored rows for this model and prompt, by key, with probabilities decoded to lists."""
        with self._mutex:
            cur = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM answers WHERE model=? AND prompt_version=?",
                                   (model, prompt_version))
            fetched = cur.fetchall()
        out = {}
        for values in fetched:
            row = dict(zip(_COLUMNS, values))
            for f in PROB_FIELDS:
                row[f] = json.loads(row[f]) if row[f] is not None else None
            row["created_at"] = datetime.fromtimestamp(row["created_at"], tz=timezone.utc)
            out[row["key"]] = row
        return out

    def _migrate_chunks(self) -> None:
        """Copy answers from chunk files of earlier versions into the store (idempotent: the
        upsert keeps what is there unless a chunk has a valid answer for an invalid one). The
        chunk files are left in place, so an older checkout can still read its own cache."""
        chunks = sorted(self.root.glob("chunk-*.parquet"))
        if not chunks:
            return
        rows = []
        for path in chunks:
            for r in pq.read_table(path, schema=LEGACY_CHUNK).to_pylist():
                created = int(r["created_at"].timestamp())
                rows.append(tuple(r[c] for c in _COLUMNS[:13]) + (created, None, None, None, None))
        with self._mutex:
            self._db.execute("BEGIN")
            self._db.executemany(_UPSERT, rows)
            self._db.execute("COMMIT")
        log.info("label cache: read %d answers from %d chunk files of an earlier version", len(rows), len(chunks))


def _row(o: Outcome, model: str, prompt_version: str) -> tuple:
    label, probs = o.label, o.probs or {}
    return (
        o.key, model, prompt_version, "ok" if label is not None else "invalid",
        label.document_type if label else None, label.domain if label else None,
        label.educational_score if label else None, label.language if label else None,
        None if label else o.reason, None if label else o.raw,
        o.attempts, o.prompt_tokens, o.completion_tokens, int(o.created_at),
        *(json.dumps(probs[f]) if label and probs.get(f) is not None else None for f in PROB_FIELDS),
        probs.get("educational_score_expected") if label else None,
    )
