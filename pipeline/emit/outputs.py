"""The other output formats of a variant, each written from one finished Parquet shard (pure Python).

Every format holds the shard's rows in the shard's order, so all formats of a variant carry the
same global shuffle and the same per-split, per-group layout (:mod:`pipeline.emit.layout`):

- ``jsonl``: ``<stem>.jsonl.gz``, one JSON object per row with every shard column (gzip header
  without a timestamp: same rows, same bytes);
- ``datatrove``: ``<stem>.ds`` (+ ``.ds.index`` document ends, ``.ds.metadata``) written by
  datatrove's own tokenizer step (:class:`datatrove.pipeline.tokens.DocumentTokenizer`, documents
  kept in order): the format nanotron's ``DatatroveFolderDataset`` reads;
- ``megatron``: ``<stem>.bin`` / ``<stem>.idx``, Megatron-LM's MMIDIDX indexed dataset, written by
  datatrove's :class:`~datatrove.pipeline.tokens.megatron_tokenizer.MegatronDocumentTokenizer`
  (one sequence per row). The ``.bin`` is a flat token array, which OLMo's memmap reader also takes.

Tokenized rows are the text's tokens (no special tokens, exactly the ``n_tokens`` of the row) plus
one end-of-document token when the tokenizer has one; the tokenizer is configured here (no
truncation, no padding, post-processor ``$A <eos>``) and handed to datatrove, never re-read by name,
so a ``tokenizer.json`` that truncates to 128 tokens (sentence-embedding models) cannot cut documents.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.emit.layout import format_stem
from pipeline.emit.shards import sha256_file as sha256_of
from pipeline.emit.tokens import HFTokenizer

TOKENIZED_FORMATS = ("datatrove", "megatron")
_MEGATRON_HEADER = b"MMIDIDX\x00\x00"
_MEGATRON_DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64,
                    7: np.float32, 8: np.uint16}


def _file_info(variant_dir: Path, path: Path, fmt: str, rows: int, tokens: int | None) -> dict[str, Any]:
    return {"format": fmt, "path": str(path.relative_to(variant_dir)), "rows": rows, "tokens": tokens,
            "bytes": path.stat().st_size, "sha256": sha256_of(path)}


def write_jsonl(variant_dir: Path, parquet_path: str) -> list[dict[str, Any]]:
    table = pq.read_table(variant_dir / parquet_path)
    dest = variant_dir / (format_stem(parquet_path, "jsonl") + ".jsonl.gz")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        for batch in table.to_batches(max_chunksize=4096):
            lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in batch.to_pylist()]
            gz.write("".join(lines).encode("utf-8"))
    return [_file_info(variant_dir, dest, "jsonl", table.num_rows, None)]


def _configured(tokenizer: HFTokenizer):
    """A copy of the tokenizer that adds exactly one end-of-document token (or none)."""
    from tokenizers import Tokenizer
    from tokenizers.processors import TemplateProcessing

    tok = Tokenizer.from_str(tokenizer.tokenizer.to_str())
    tok.no_truncation()
    tok.no_padding()
    if tokenizer.eos_token is not None:
        tok.post_processor = TemplateProcessing(single="$A <eos>", pair=None,
                                                special_tokens=[("<eos>", tokenizer.eos_id)])
    else:
        tok.post_processor = TemplateProcessing(single="$A", pair=None, special_tokens=[])
    return tok


def _documents(table) -> list:
    from datatrove.data import Document

    return [Document(text=t, id=i) for t, i in zip(table["text"].to_pylist(), table["id"].to_pylist())]


def _run_step(step, documents: list) -> None:
    out = step.run(iter(documents), rank=0, world_size=1)
    if out is not None:  # a generator in some datatrove versions: drain it
        for _ in out:
            pass


def write_datatrove(variant_dir: Path, parquet_path: str, tokenizer: HFTokenizer) -> list[dict[str, Any]]:
    from datatrove.pipeline.tokens import DocumentTokenizer

    table = pq.read_table(variant_dir / parquet_path, columns=["id", "text", "n_tokens"])
    stem = Path(format_stem(parquet_path, "datatrove"))
    folder = variant_dir / stem.parent
    folder.mkdir(parents=True, exist_ok=True)
    step = DocumentTokenizer(str(folder), tokenizer_name_or_path=str(tokenizer.path), save_filename=stem.name,
                             eos_token=tokenizer.eos_token, shuffle_documents=False, save_final_metadata=True,
                             batch_size=1000)
    step.tokenizer = _configured(tokenizer)  # a cached_property: ours replaces the one read by name
    _run_step(step, _documents(table))
    written = folder / f"{stem.name}_00000_unshuffled.ds"  # datatrove's name for rank 0, unshuffled
    final = folder / f"{stem.name}.ds"
    for suffix in ("", ".index", ".metadata"):
        os.replace(f"{written}{suffix}", f"{final}{suffix}")
    tokens = int(sum(table["n_tokens"].to_pylist())) + (table.num_rows if tokenizer.eos_id is not None else 0)
    return [_file_info(variant_dir, Path(f"{final}{suffix}"), "datatrove", table.num_rows, tokens)
            for suffix in ("", ".index", ".metadata")]


def write_megatron(variant_dir: Path, parquet_path: str, tokenizer: HFTokenizer) -> list[dict[str, Any]]:
    from datatrove.pipeline.tokens.megatron_tokenizer import MegatronDocumentTokenizer

    table = pq.read_table(variant_dir / parquet_path, columns=["id", "text", "n_tokens"])
    stem = Path(format_stem(parquet_path, "megatron"))
    folder = variant_dir / stem.parent
    folder.mkdir(parents=True, exist_ok=True)
    step = MegatronDocumentTokenizer(str(folder), save_filename=stem.name, tokenizer_name_or_path=str(tokenizer.path),
                                     eos_token=tokenizer.eos_token, batch_size=1000)
    step.tokenizer = _configured(tokenizer)
    _run_step(step, _documents(table))
    written = folder / f"{stem.name}_00000_tokens"
    for suffix in (".bin", ".idx"):
        os.replace(f"{written}{suffix}", folder / f"{stem.name}{suffix}")
    tokens = int(sum(table["n_tokens"].to_pylist())) + (table.num_rows if tokenizer.eos_id is not None else 0)
    return [_file_info(variant_dir, folder / f"{stem.name}{suffix}", "megatron", table.num_rows, tokens)
            for suffix in (".bin", ".idx")]


def write_formats(variant_dir: str | Path, parquet_path: str, formats: list[str],
                  tokenizer: HFTokenizer | None) -> list[dict[str, Any]]:
    """Every requested non-Parquet format of one shard; a zero-row shard (an empty split's
    placeholder) gets none of the tokenized formats (a reader would reject an empty file)."""
    variant_dir = Path(variant_dir)
    rows = pq.ParquetFile(variant_dir / parquet_path).metadata.num_rows
    out: list[dict[str, Any]] = []
    for fmt in formats:
        if fmt == "jsonl":
            out += write_jsonl(variant_dir, parquet_path)
        elif fmt in TOKENIZED_FORMATS and rows:
            if tokenizer is None:
                raise ValueError(f"format {fmt} needs a Hugging Face tokenizer")
            out += (write_datatrove if fmt == "datatrove" else write_megatron)(variant_dir, parquet_path, tokenizer)
    return out


# --------------------------------------------------------------------------- readers (tests, checks)


def read_datatrove(path: str | Path, token_size: int = 2) -> list[list[int]]:
    """The documents of a datatrove ``.ds`` file, split at the ends its ``.ds.index`` records."""
    dtype = np.uint32 if token_size == 4 else np.uint16
    tokens = np.fromfile(path, dtype=dtype)
    ends = [int(e) for e in np.fromfile(f"{path}.index", dtype="<u8")]
    return [tokens[s:e].tolist() for s, e in zip([0] + ends[:-1], ends)]


def read_megatron(prefix: str | Path) -> list[list[int]]:
    """The sequences of a Megatron MMIDIDX dataset (``prefix.idx`` + ``prefix.bin``), read the way
    Megatron-LM's ``IndexedDataset`` does."""
    idx = Path(f"{prefix}.idx").read_bytes()
    if idx[:9] != _MEGATRON_HEADER:
        raise ValueError(f"{prefix}.idx: not a Megatron MMIDIDX index")
    version, = struct.unpack("<Q", idx[9:17])
    code, = struct.unpack("<B", idx[17:18])
    n_seq, n_doc = struct.unpack("<QQ", idx[18:34])
    if version != 1:
        raise ValueError(f"{prefix}.idx: unsupported version {version}")
    offset = 34
    lengths = np.frombuffer(idx, dtype=np.int32, count=n_seq, offset=offset)
    offset += lengths.nbytes
    pointers = np.frombuffer(idx, dtype=np.int64, count=n_seq, offset=offset)
    offset += pointers.nbytes
    docs = np.frombuffer(idx, dtype=np.int64, count=n_doc, offset=offset)
    if docs[0] != 0 or docs[-1] != n_seq:
        raise ValueError(f"{prefix}.idx: document indices do not cover the sequences")
    dtype = _MEGATRON_DTYPES[code]
    data = np.fromfile(f"{prefix}.bin", dtype=dtype)
    item = np.dtype(dtype).itemsize
    return [data[p // item: p // item + n].tolist() for p, n in zip(pointers, lengths)]
