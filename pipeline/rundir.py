"""Layout of a run directory and atomic writes into it.

Every table is a folder of Parquet files. A table is visible only once complete: it is written to
a hidden temporary sibling and renamed into place, and a ``_COMPLETE`` marker (JSON with row count
and a fingerprint of the stage inputs) is written last. A stage is finished iff its marker exists;
a rerun skips finished stages and cleans up temporaries left by a killed run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

MARKER = "_COMPLETE"


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __init__(self, root: str | os.PathLike[str]):
        object.__setattr__(self, "root", Path(root).resolve())

    def table(self, name: str) -> Path:
        return self.root / name

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report(self, stage: str) -> Path:
        return self.reports / f"{stage}.json"

    def is_complete(self, name: str) -> bool:
        return (self.table(name) / MARKER).exists()

    def marker(self, name: str) -> dict[str, Any] | None:
        path = self.table(name) / MARKER
        return json.loads(path.read_text()) if path.exists() else None

    def tmp_path(self, name: str) -> Path:
        """A fresh hidden temp folder next to the final table (same filesystem → atomic rename)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f".tmp-{name.replace('/', '_')}-{uuid.uuid4().hex[:8]}"

    def publish(self, tmp: Path, name: str, meta: dict[str, Any] | None = None) -> Path:
        """Atomically move a finished temp folder into place as table ``name``."""
        final = self.table(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        (tmp / MARKER).write_text(json.dumps(meta or {}, sort_keys=True, default=str))
        if final.exists():
            trash = self.root / f".trash-{uuid.uuid4().hex[:8]}"
            final.rename(trash)
            tmp.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(final)
        return final

    def clean_temporaries(self) -> None:
        """Remove leftovers of killed runs (never visible as tables)."""
        if not self.root.exists():
            return
        for child in self.root.iterdir():
            if child.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(child, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """What a plain file gets under the process umask (0644 under umask 022): temp files are created
    0600, so every atomic writer sets this before the rename."""
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is given the umask's mode and renamed
    onto ``path`` (readers never see half a file), on failure removed. The one atomic file writer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """Write one Parquet file atomically, zstd by default."""
    kwargs.setdefault("compression", "zstd")
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)


def write_spark_table(df, run: RunDir, name: str, meta: dict[str, Any] | None = None,
                      partitions: int | None = None, sort_by: list[str] | None = None) -> Path:
    """Write a Spark DataFrame as table ``name`` atomically (temp folder, then rename); the marker
    carries the row count read from the written files' Parquet footers (no second Spark job).

    ``sort_by`` gives deterministic file contents: same input, same bytes.
    """
    if partitions is not None:
        df = df.repartition(partitions, *(sort_by or [])) if sort_by else df.coalesce(partitions)
    if sort_by:
        df = df.sortWithinPartitions(*sort_by)
    tmp = run.tmp_path(name)
    df.write.option("compression", "zstd").parquet(str(tmp))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(tmp.glob("*.parquet")))
    return run.publish(tmp, name, {**(meta or {}), "rows": rows})


def read_table(spark, run: RunDir, table: str):
    """A complete run table as a Spark DataFrame (the one reader of run tables on Spark)."""
    from pipeline.errors import UserError

    if not run.is_complete(table):
        raise UserError(f"{run.table(table)} is missing or incomplete")
    return spark.read.parquet(str(run.table(table)))


def read_table_arrow(run: RunDir, table: str, columns: list[str] | None = None) -> pa.Table:
    """A complete run table as an Arrow table (driver side, small tables or chosen columns)."""
    import pyarrow.dataset as ds

    from pipeline.errors import UserError

    if not run.is_complete(table):
        raise UserError(f"{run.table(table)} is missing or incomplete")
    return ds.dataset(str(run.table(table)), format="parquet", exclude_invalid_files=True).to_table(columns=columns)
