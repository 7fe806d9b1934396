"""Rolling zstd Parquet shards of a target size (pure pyarrow), written per sorted partition.

Emit sorts a variant's rows globally with Spark (``orderBy(_group, _key, id)``, range
partitioned), then every executor task turns its partition — a contiguous range of that global
order — into shards with :func:`write_sorted_partition`. A *group* is ``<split>/<prefix>``
(``commercial/train``, ``commercial/train-x10``, ``noncommercial/validation``: see
:mod:`pipeline.emit.layout`); partition ``i`` writes ``<split>/<prefix>-{i:05d}-{k:04d}.parquet``
(``k`` = its rolling shard number in that group, from 0), so the shard files of a group, in
file-name order, hold its rows in the global sorted order. A partition that straddles a group
boundary keeps one :class:`ShardWriter` per group.

Rows arrive already in their final (shuffled) order. Row groups are cut at exact row counts
derived from the text bytes seen so far, never from the sizes of the incoming batches, so the same
rows always give the same files, byte for byte. A shard is closed once its file reaches
``shard_bytes`` after a row group, so shards are whole row groups slightly above the target; the
last shard of each partition and split may be smaller (a partition's rows never roll over into the
next partition's shards). Each shard is written under a hidden temporary name and renamed into
place when complete, so a retried or speculative task never leaves a torn file behind.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.stage_files import sha256_file  # noqa: F401  (re-exported for emit)
from pipeline.emit.layout import shard_name  # re-exported: callers import it from here


@dataclass
class ShardInfo:
    path: str  # relative to the variant folder, e.g. "commercial/train-00000-0000.parquet"
    rows: int
    tokens: int
    bytes: int
    sha256: str

    def as_dict(self) -> dict:
        return asdict(self)


def write_empty_shard(path: Path, schema: pa.Schema) -> None:
    """A zero-row shard (an empty split or hold-out) with the schema and *no* row group: a file with
    one empty row group makes ``datasets``' Parquet reader ask pyarrow for batches of 0 rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.ParquetWriter(str(path), schema, compression="zstd").close()


TMP_PREFIX = ".tmp-shard-"  # in-progress shard files; never part of a published variant


class ShardWriter:
    """Rolling shards of one group (``<split>/<prefix>``), written by one sorted Spark partition (its
    index goes into the file names)."""

    def __init__(self, variant_dir: Path, group: str, schema: pa.Schema, shard_bytes: int, row_group_bytes: int,
                 partition: int):
        self.variant_dir = Path(variant_dir)
        split, _, self.prefix = group.partition("/")
        self.folder = self.variant_dir / split
        self.group = group
        self.schema = schema
        self.shard_bytes = shard_bytes
        self.row_group_bytes = row_group_bytes
        self.partition = partition
        self.shards: list[ShardInfo] = []
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._sink: pa.OSFile | None = None
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._tmp: Path | None = None
        self._rows = 0
        self._tokens = 0

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        sizes = pc.binary_length(pc.cast(table["text"], pa.binary())).to_numpy(zero_copy_only=False)
        start = 0
        while start < table.num_rows:
            need = self.row_group_bytes - self._buffered
            csum = np.cumsum(sizes[start:])
            hit = int(np.searchsorted(csum, need))  # first row where the group reaches its size
            if hit >= len(csum):  # not enough to fill a group: keep it for later
                self._buffer.append(table.slice(start))
                self._buffered += int(csum[-1])
                return
            self._buffer.append(table.slice(start, hit + 1))
            self._flush_group()
            start += hit + 1

    def _flush_group(self) -> None:
        if not self._buffer:
            return
        group = pa.concat_tables(self._buffer).combine_chunks()
        self._buffer, self._buffered = [], 0
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._path = self.folder / shard_name(self.prefix, self.partition, len(self.shards))
            self._tmp = self.folder / f"{TMP_PREFIX}{uuid.uuid4().hex}-{self._path.name}"
            self._sink = pa.OSFile(str(self._tmp), "wb")
            self._writer = pq.ParquetWriter(self._sink, self.schema, compression="zstd")
        self._writer.write_table(group, row_group_size=group.num_rows)
        self._rows += group.num_rows
        self._tokens += int(pc.sum(group["n_tokens"]).as_py() or 0)
        if self._sink.tell() >= self.shard_bytes:
            self._close_shard()

    def _close_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        if not self._sink.closed:
            self._sink.close()
        path, tmp = self._path, self._tmp
        size, digest = tmp.stat().st_size, sha256_file(tmp)
        os.replace(tmp, path)  # atomic: a reader (or a twin task attempt) never sees half a shard
        self.shards.append(ShardInfo(path=str(path.relative_to(self.variant_dir)), rows=self._rows,
                                     tokens=self._tokens, bytes=size, sha256=digest))
        self._writer = self._sink = self._path = self._tmp = None
        self._rows = self._tokens = 0

    def close(self) -> list[ShardInfo]:
        self._flush_group()
        self._close_shard()
        return self.shards

    def abort(self) -> None:
        """Drop the shard in progress (its temporary file); closed shards stay."""
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                if not self._sink.closed:
                    self._sink.close()
                self._tmp.unlink(missing_ok=True)
        self._writer = self._sink = self._path = self._tmp = None
        self._buffer, self._buffered = [], 0


# --------------------------------------------------------------------------- one sorted partition

# What each partition task returns: one row per shard it wrote, or a single row with ``error`` set.
# first_*/last_* are the sort keys of the partition's first and last row of that group (the driver
# checks them across partitions); partition/shard give the global order of the shards.
SHARD_INFOS = pa.schema([
    pa.field("group", pa.string()),
    pa.field("partition", pa.int32()),
    pa.field("shard", pa.int32()),
    pa.field("path", pa.string()),
    pa.field("rows", pa.int64()),
    pa.field("tokens", pa.int64()),
    pa.field("bytes", pa.int64()),
    pa.field("sha256", pa.string()),
    pa.field("first_key", pa.int64()),
    pa.field("first_id", pa.string()),
    pa.field("last_key", pa.int64()),
    pa.field("last_id", pa.string()),
    pa.field("error", pa.string()),
])

SORT_COLUMNS = ("_group", "_key", "id")


def _first_disorder(table: pa.Table, previous: tuple | None) -> int | None:
    """Index of the first row that sorts before the row above it (by _group, _key, id), or None.
    ``previous`` is the key of the row before the table (the previous batch's last row)."""
    s, k, i = (table[c].combine_chunks() for c in SORT_COLUMNS)
    if previous is not None and (s[0].as_py(), k[0].as_py(), i[0].as_py()) < previous:
        return 0
    if table.num_rows < 2:
        return None
    s0, s1 = s.slice(0, len(s) - 1), s.slice(1)
    k0, k1 = k.slice(0, len(k) - 1), k.slice(1)
    i0, i1 = i.slice(0, len(i) - 1), i.slice(1)
    same_s, same_k = pc.equal(s1, s0), pc.equal(k1, k0)
    bad = pc.or_(pc.less(s1, s0),
                 pc.and_(same_s, pc.or_(pc.less(k1, k0), pc.and_(same_k, pc.less(i1, i0)))))
    hits = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    return int(hits[0]) + 1 if len(hits) else None


def write_sorted_partition(batches: Iterable[pa.RecordBatch], partition: int, variant_dir: Path | str,
                           schema: pa.Schema, shard_bytes: int, row_group_bytes: int) -> pa.Table:
    """Rows of one sorted partition (columns ``_group``, ``_key``, ``id`` and ``schema``'s) → rolling
    shards per group under ``variant_dir/<split>/``; returns their :data:`SHARD_INFOS`.

    Order is checked on every row: if a row sorts before the one above it, the shard in progress
    is dropped and a single row with ``error`` set is returned (the caller refuses to publish).
    """
    writers: dict[str, ShardWriter] = {}
    bounds: dict[str, list] = {}  # group -> [first (key, id), last (key, id)]
    last: tuple | None = None
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch])
            bad = _first_disorder(table, last)
            if bad is not None:
                row = tuple(table[c][bad].as_py() for c in SORT_COLUMNS)
                above = last if bad == 0 else tuple(table[c][bad - 1].as_py() for c in SORT_COLUMNS)
                for w in writers.values():
                    w.abort()
                return _error(partition, f"partition {partition}: row {row} sorts before the row above it {above}")
            last = tuple(table[c][-1].as_py() for c in SORT_COLUMNS)
            for group in pc.unique(table["_group"]).to_pylist():  # in order: the rows are sorted by group
                part = table.filter(pc.equal(table["_group"], group))
                if group not in writers:
                    writers[group] = ShardWriter(variant_dir, group, schema, shard_bytes, row_group_bytes, partition)
                    bounds[group] = [(part["_key"][0].as_py(), part["id"][0].as_py()), None]
                bounds[group][1] = (part["_key"][-1].as_py(), part["id"][-1].as_py())
                writers[group].write(part)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    out = []
    for group in sorted(writers):
        (fk, fi), (lk, li) = bounds[group]
        for k, info in enumerate(writers[group].close()):
            out.append(dict(group=group, partition=partition, shard=k, **info.as_dict(), first_key=fk, first_id=fi,
                            last_key=lk, last_id=li, error=None))
    return pa.Table.from_pylist(out, schema=SHARD_INFOS)


def _error(partition: int, message: str) -> pa.Table:
    row = {f.name: None for f in SHARD_INFOS}
    row.update(partition=partition, error=message)
    return pa.Table.from_pylist([row], schema=SHARD_INFOS)


def partition_writer(variant_dir: str, schema: pa.Schema, shard_bytes: int, row_group_bytes: int):
    """The function for ``sorted_df.mapInArrow(fn, to_spark(SHARD_INFOS))``: runs on the executors,
    partition index from ``TaskContext.partitionId()``."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        partition = TaskContext.get().partitionId()
        table = write_sorted_partition(batches, partition, variant_dir, schema, shard_bytes, row_group_bytes)
        yield from table.to_batches()

    return fn
