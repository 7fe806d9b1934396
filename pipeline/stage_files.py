"""Digests of the files a stage's output depends on (label files, benchmark files, input listings)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_digest(path: str | None) -> str | None:
    """sha256 of a local file (a folder: of its files' names and digests); the path itself for a URL or
    a name that is no local path (a table name, a hub id)."""
    if not path:
        return None
    p = Path(path)
    if p.is_file():
        return sha256_file(p)[:20]
    if p.is_dir():
        parts = {str(f.relative_to(p)): file_digest(str(f)) for f in sorted(p.rglob("*")) if f.is_file()}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]
    return str(path)


def files_digest(paths: list[str] | None) -> dict[str, Any]:
    return {str(p): file_digest(str(p)) for p in paths or []}


def inputs_fingerprint(cfg) -> dict[str, Any]:
    """What ingest's output depends on besides its settings: the input units and the parser version."""
    from pipeline import jats
    from pipeline.sources import discover_inputs

    discovery = discover_inputs(list(cfg.inputs), files_per_chunk=cfg.ingest.files_per_chunk)
    # Packages by name and content fingerprint, loose files one by one (name, size, mtime): how
    # files are chunked into units of work (files_per_chunk) changes nothing in the output.
    items = sorted({f"{u.name}|{u.fingerprint}" for u in discovery.units if u.kind == "package"}
                   | {f"{name}|{size}|{fp}" for u in discovery.units
                      for (_url, name, size), fp in zip(u.files, u.file_fingerprints or [""] * len(u.files))})
    digest = hashlib.sha256("\n".join(items).encode()).hexdigest()[:20]
    return {"inputs": digest, "n_inputs": len(items),
            "parser": str(getattr(jats, "PARSER_VERSION", getattr(jats, "__version__", "0")))}
