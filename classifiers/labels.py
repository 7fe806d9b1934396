"""Label sets for training: a label file or a run's ``labels/`` table → validated ``Examples``.

Pure pyarrow (no Spark): labels are small. From a run, the context a student may use (section
path, zone, article type) and the article a paragraph came from are joined from ``paragraphs/``
and ``articles/``. Also: paragraphs to pseudo-label read from a file, and the whitespace-normalised
text hash that keeps evaluation paragraphs out of any pseudo-labelled pool.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from classifiers.dataset import Examples, examples_from_table, read_table
from classifiers.features import text_hash
from pipeline.errors import UserError


def file_hash(path: Path) -> str:
    """sha1 of a label file, or of a folder's Parquet files in name order."""
    digest = hashlib.sha1()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def load_labels(run, labels: str | None, soft_targets: bool = False) -> tuple[Examples, dict[str, Any]]:
    """Labels from a file (``labels``) or the run's ``labels/`` table (status == ok rows), with the
    context columns and article ids joined from the run when it has them."""
    if labels:
        path = Path(labels)
        if not path.exists():
            raise UserError(f"{path}: no such label file", hint="pass --labels FILE (JSONL or Parquet)")
    else:
        path = run.table("labels")
        if not run.is_complete("labels"):
            raise UserError(f"{path}: no complete labels table",
                            hint="run `pmc-enrich label` first, or pass --labels FILE")
    try:
        table = read_table(path)
    except (ValueError, pa.ArrowInvalid) as exc:
        raise UserError(f"{path}: unreadable label file ({exc})", hint="JSONL or Parquet with text + labels") from exc
    table = join_run_context(run, table)
    try:
        ex, skipped = examples_from_table(table, str(path), soft_targets=soft_targets)
    except ValueError as exc:
        raise UserError(str(exc), hint="a label file needs text, document_type, domain, educational_score") from exc
    if len(ex) == 0:
        raise UserError(f"{path}: no usable label rows ({skipped})")
    info = {
        "label_source": str(path), "label_hash": file_hash(path), "n_rows": table.num_rows, "n_used": len(ex),
        "skipped_rows": skipped,
        "labeller": _distinct(table, "labeller") or [f"import:{path.name}"],
        "prompt_version": _distinct(table, "prompt_version") or ["unknown"],
        "context_columns": sorted(ex.context),
        "group_column": _group_column(table),
        "soft_target_rows": {h: sum(1 for q in v if q is not None) for h, v in ex.soft.items()},
    }
    return ex, info


def _group_column(table: pa.Table) -> str | None:
    """Which column named the articles (see ``dataset._groups``): ``source`` wherever a row has it."""
    have = [c for c in ("source", "article_id") if c in table.column_names and table[c].null_count < table.num_rows]
    return "+".join(have) or None


def _distinct(table: pa.Table, col: str) -> list[str]:
    if col not in table.column_names:
        return []
    return sorted(str(v) for v in pc.unique(table[col]).to_pylist() if v is not None)


def join_run_context(run, table: pa.Table) -> pa.Table:
    """Add section_path / zone / article_type / article_id (+ the article's source file) from the
    run for rows that carry a paragraph_id."""
    if run is None or "paragraph_id" not in table.column_names or not run.is_complete("paragraphs"):
        return table
    import pyarrow.dataset as ds

    ids = pc.drop_null(pc.unique(table["paragraph_id"]))
    if len(ids) == 0:
        return table
    paras = ds.dataset(str(run.table("paragraphs")), format="parquet", exclude_invalid_files=True)
    ctx = paras.to_table(columns=["paragraph_id", "article_id", "zone", "section_path"],
                         filter=pc.field("paragraph_id").isin(ids))
    article: dict[str, tuple] = {}
    if run.is_complete("articles"):
        arts = ds.dataset(str(run.table("articles")), format="parquet", exclude_invalid_files=True)
        cols = [c for c in ("article_id", "article_type", "source") if c in arts.schema.names]
        art = arts.to_table(columns=cols, filter=pc.field("article_id").isin(pc.unique(ctx["article_id"])))
        srcs = art["source"].to_pylist() if "source" in cols else [None] * art.num_rows
        article = {a: (t, s) for a, t, s in zip(art["article_id"].to_pylist(), art["article_type"].to_pylist(), srcs)}
    # Arrow's join cannot carry list columns (section_path): map by paragraph_id instead.
    by_id = {pid: (zone, path, aid) for pid, aid, zone, path in zip(
        ctx["paragraph_id"].to_pylist(), ctx["article_id"].to_pylist(), ctx["zone"].to_pylist(),
        ctx["section_path"].to_pylist())}
    found = [by_id.get(pid, (None, None, None)) for pid in table["paragraph_id"].to_pylist()]
    # A label file's own `source` wins over the run's: all rows of one file then name articles the
    # same way (a file may call an article "elife00007.xml" that the run read as
    # "elife/elife-00007-v1.xml"), and rows the run does not hold are still grouped by article.
    own_source = table["source"].to_pylist() if "source" in table.column_names else [None] * table.num_rows
    drop = [c for c in ("zone", "section_path", "article_type", "section", "article_id", "source")
            if c in table.column_names]
    table = table.drop_columns(drop)
    table = table.append_column("zone", pa.array([f[0] for f in found], pa.string()))
    table = table.append_column("section_path", pa.array([f[1] for f in found], pa.list_(pa.string())))
    table = table.append_column("article_type", pa.array([article.get(f[2], (None, None))[0] for f in found],
                                                         pa.string()))
    table = table.append_column("article_id", pa.array([f[2] for f in found], pa.string()))
    sources = [own or article.get(f[2], (None, None))[1] for f, own in zip(found, own_source)]
    return table.append_column("source", pa.array(sources, pa.string()))


def article_key(group: str | None) -> str:
    """A comparable article name for a label group or a pool row's source: the file name of the
    last path part (after a package's ``::``), without the ``#index`` of an article inside it and
    without its .xml/.nxml extension, so a run's source path ("…tar.gz::PMC010xxxxxx/PMC10146683.xml"),
    a label file's source ("PMC10146683.xml#0") and a PMC article id ("PMC10146683") agree."""
    if not group:
        return ""
    name = str(group).split("#", 1)[0].rsplit("::", 1)[-1]
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return stem if dot and ext.lower() in ("xml", "nxml") else name


def ws_hash(text: str) -> str:
    """Hash of the whitespace-normalised text: matches a label file's normalised copy of a paragraph."""
    return text_hash(" ".join(text.split()))


def unlabelled_from_file(path: str, max_paragraphs: int, min_words: int) -> Examples:
    """Paragraphs to pseudo-label from a JSONL/Parquet file with ``text`` (+ optional context, and
    ``article_id`` or ``source`` naming the article), duplicates (same whitespace-normalised text)
    kept once."""
    table = read_table(path)
    if "text" not in table.column_names:
        raise UserError(f"{path}: no text column", hint="the unlabelled file needs a `text` column")
    data = table.to_pydict()
    keep, seen = [], set()
    for i, t in enumerate(data["text"]):
        if not t or len(t.split()) < min_words:
            continue
        h = ws_hash(t)
        if h in seen:
            continue
        seen.add(h)
        keep.append(i)
        if len(keep) >= max_paragraphs:
            break
    ctx = {}
    col = data.get("section_path", data.get("section"))
    if col is not None:
        ctx["section"] = [col[i] for i in keep]
    for c in ("zone", "article_type"):
        if c in data:
            ctx[c] = [data[c][i] for i in keep]
    texts = [data["text"][i] for i in keep]
    col = data.get("article_id", data.get("source"))
    group = [str(col[i]) if col[i] else "" for i in keep] if col is not None else []
    return Examples(text=texts, context=ctx, key=[ws_hash(t) for t in texts], group=group)
