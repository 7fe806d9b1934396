"""Where a variant's files go (pure Python): shard groups, file names, the validation hold-out.

A variant folder is at once a run table (``_COMPLETE``, ``manifest.json``) and a Hugging Face
dataset. ``datasets.load_dataset("parquet", data_dir=VARIANT)`` reads every file that its split
patterns select, or every non-hidden file when none matches — so data files are named after their
split the Hub way (``train-…``, ``validation-…``): the split patterns then select exactly the
Parquet shards and never the marker, the manifest, the mixture file or the other formats, whose
names carry no split keyword (``part-…`` / ``heldout-…``)::

    commercial/train-00003-0000.parquet            copies mode: group "commercial/train"
    commercial/train-x10-00003-0000.parquet        weights mode: group "commercial/train-x10"
    commercial/validation-00000-0000.parquet       the validation hold-out (never repeated)
    jsonl/commercial/part/00003-0000.jsonl.gz      the same rows in the other formats, one folder
    datatrove/commercial/part-x10/00003-0000.ds    per group (a folder is what nanotron, OLMo and
    megatron/commercial/heldout/00000-0000.{bin,idx}   a mixture weight point at)

A *group* (``<split>/<part>[-x<factor>]``) is the unit of sorting and sharding: rows are sorted by
``(group, hash, id)`` and each group's shards hold its rows in that order.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

TRAIN, VALIDATION = "train", "validation"
PARTS = (TRAIN, VALIDATION)
# File-name stems of the non-Parquet formats: free of the split keywords `datasets` looks for.
FORMAT_STEMS = {TRAIN: "part", VALIDATION: "heldout"}
FORMAT_SUFFIXES = {"jsonl": (".jsonl.gz",), "datatrove": (".ds", ".ds.index", ".ds.metadata"),
                   "megatron": (".bin", ".idx")}
_VALIDATION_SALT = b"pmc-enrich validation v1:"


def is_validation(article_id: str, fraction: float) -> bool:
    """Whether an article is held out: a fixed hash of its id below ``fraction`` (no seed, so the
    same article is held out in every variant and every rerun, and a larger fraction only adds)."""
    if fraction <= 0:
        return False
    digest = hashlib.sha256(_VALIDATION_SALT + article_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < fraction


def group_name(split: str, part: str, factor: int | None = None) -> str:
    """``commercial/train`` (copies mode, or any validation group) or ``commercial/train-x10``."""
    return f"{split}/{part}" + (f"-x{factor}" if factor is not None else "")


def parse_group(group: str) -> dict:
    """``commercial/train-x10`` → ``{split, part, factor}`` (factor None in copies mode)."""
    split, _, prefix = group.partition("/")
    part, _, factor = prefix.partition("-x")
    return {"split": split, "part": part, "factor": int(factor) if factor else None}


def shard_name(prefix: str, partition: int, k: int) -> str:
    """``<prefix>-{partition:05d}-{k:04d}.parquet``: within a group, file-name order is sort order."""
    return f"{prefix}-{partition:05d}-{k:04d}.parquet"


def format_folder(group: str, fmt: str) -> str:
    """The folder of a group's files in another format: ``commercial/train-x10`` →
    ``<fmt>/commercial/part-x10`` (split keywords replaced, see the module docstring)."""
    info = parse_group(group)
    name = FORMAT_STEMS[info["part"]] + (f"-x{info['factor']}" if info["factor"] is not None else "")
    return f"{fmt}/{info['split']}/{name}"


def group_of(parquet_path: str) -> str:
    """``commercial/train-x10-00003-0000.parquet`` → ``commercial/train-x10``."""
    path = PurePosixPath(parquet_path)
    return f"{path.parent}/{path.stem.rsplit('-', 2)[0]}"


def format_stem(parquet_path: str, fmt: str) -> str:
    """``commercial/train-x10-00003-0000.parquet`` → ``<fmt>/commercial/part-x10/00003-0000``."""
    path = PurePosixPath(parquet_path)
    partition, k = path.stem.rsplit("-", 2)[1:]
    return f"{format_folder(group_of(parquet_path), fmt)}/{partition}-{k}"
