"""Rolling zstd Parquet shards of a target size (pure pyarrow).

Rows arrive already in their final (shuffled) order. Row groups are cut at exact row counts
derived from the text bytes seen so far, never from the sizes of the incoming batches, so the same
rows always give the same files, byte for byte. A shard is closed once its file reaches
``shard_bytes`` after a row group, so shards are whole row groups slightly above the target.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


@dataclass
class ShardInfo:
    path: str  # relative to the variant folder, e.g. "commercial/part-00000.parquet"
    rows: int
    tokens: int
    bytes: int
    sha256: str

    def as_dict(self) -> dict:
        return asdict(self)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class ShardWriter:
    def __init__(self, variant_dir: Path, split: str, schema: pa.Schema, shard_bytes: int, row_group_bytes: int):
        self.variant_dir = Path(variant_dir)
        self.folder = self.variant_dir / split
        self.split = split
        self.schema = schema
        self.shard_bytes = shard_bytes
        self.row_group_bytes = row_group_bytes
        self.shards: list[ShardInfo] = []
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._sink: pa.OSFile | None = None
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
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
            self._path = self.folder / f"part-{len(self.shards):05d}.parquet"
            self._sink = pa.OSFile(str(self._path), "wb")
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
        path = self._path
        self.shards.append(ShardInfo(path=str(path.relative_to(self.variant_dir)), rows=self._rows,
                                     tokens=self._tokens, bytes=path.stat().st_size, sha256=sha256_file(path)))
        self._writer = self._sink = self._path = None
        self._rows = self._tokens = 0

    def close(self) -> list[ShardInfo]:
        self._flush_group()
        self._close_shard()
        return self.shards
