"""DuckDB catalog of a run directory: one view per table, plus the variant manifests.

``RUN_DIR/catalog.duckdb`` holds views over the Parquet tables (absolute paths: rebuild it with
``pmc-enrich catalog`` after moving the run) and small tables copied from the manifests. Only
complete tables (``_COMPLETE`` marker) get a view. See docs/catalog.md for example queries.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.rundir import RunDir

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.duckdb"
TABLES = ["articles", "paragraphs", "quarantine", "superseded", "dedup", "dedup_articles", "sample",
          "labels", "annotations"]

# Paragraphs with everything known about them: the view most questions start from.
PARAGRAPH_FACTS_SQL = """
CREATE VIEW paragraph_facts AS
SELECT p.paragraph_id, p.article_id, p.ordinal, p.zone, p.n_words, p.language,
       a.journal, a.year, a.license, a.commercial, a.article_type, a.retracted,
       {dup} AS is_duplicate,
       {ann}
FROM paragraphs p JOIN articles a USING (article_id)
{joins}
"""


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parquet_source(folder: Path) -> str | None:
    """A DuckDB ``read_parquet(...)`` expression for a table folder, or None when it has no files."""
    if any(folder.glob("*.parquet")):
        return f"read_parquet({_sql_str(str(folder / '*.parquet'))})"
    if any(folder.glob("*/**/*.parquet")):  # hive-partitioned (key=value folders)
        return f"read_parquet({_sql_str(str(folder / '**' / '*.parquet'))}, hive_partitioning = true)"
    return None


def read_manifests(run: RunDir) -> dict[str, dict[str, Any]]:
    """Manifests of the complete variants, by variant name."""
    out: dict[str, dict[str, Any]] = {}
    folder = run.table("variants")
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*/manifest.json")):
        if run.is_complete(f"variants/{path.parent.name}"):
            out[path.parent.name] = json.loads(path.read_text())
    return out


def manifest_tables(manifests: dict[str, dict[str, Any]]) -> tuple[pa.Table, pa.Table]:
    """(variants: one row per variant × split, variant_shards: one row per shard)."""
    splits, shards = [], []
    for name, m in manifests.items():
        for split, s in m["splits"].items():
            splits.append(dict(variant=name, split=split, articles=s["articles"], paragraphs=s["paragraphs"],
                               unique_rows=s["unique_rows"], rows=s["rows"], unique_tokens=s["unique_tokens"],
                               tokens=s["tokens"], bytes=s["bytes"], n_shards=len(s["shards"]),
                               tokenizer=m.get("tokenizer"), seed=m.get("seed"), fingerprint=m.get("fingerprint"),
                               unit=m.get("format", {}).get("unit"), created_at=m.get("created_at")))
            for sh in s["shards"]:
                shards.append(dict(variant=name, split=split, **sh))
    split_schema = pa.schema([("variant", pa.string()), ("split", pa.string()), ("articles", pa.int64()),
                              ("paragraphs", pa.int64()), ("unique_rows", pa.int64()), ("rows", pa.int64()),
                              ("unique_tokens", pa.int64()), ("tokens", pa.int64()), ("bytes", pa.int64()),
                              ("n_shards", pa.int64()), ("tokenizer", pa.string()), ("seed", pa.int64()),
                              ("fingerprint", pa.string()), ("unit", pa.string()), ("created_at", pa.string())])
    shard_schema = pa.schema([("variant", pa.string()), ("split", pa.string()), ("path", pa.string()),
                              ("rows", pa.int64()), ("tokens", pa.int64()), ("bytes", pa.int64()),
                              ("sha256", pa.string())])
    return pa.Table.from_pylist(splits, schema=split_schema), pa.Table.from_pylist(shards, schema=shard_schema)


def define_views(con: duckdb.DuckDBPyConnection, run: RunDir) -> list[str]:
    """Create the catalog's views and tables on ``con``; returns the names created."""
    created: list[str] = []
    for name in TABLES:
        if not run.is_complete(name):
            continue
        source = parquet_source(run.table(name))
        if source is None:
            log.warning("catalog: %s/ is complete but holds no Parquet file; no view", name)
            continue
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}")
        created.append(name)

    if {"paragraphs", "articles"} <= set(created):
        joins, dup, ann = [], "NULL::BOOLEAN", "NULL::VARCHAR AS document_type, NULL::VARCHAR AS domain, " \
                                               "NULL::DOUBLE AS educational_score"
        if "dedup" in created:
            joins.append("LEFT JOIN dedup d USING (paragraph_id)")
            dup = "d.is_duplicate"
        if "annotations" in created:
            joins.append("LEFT JOIN annotations n USING (paragraph_id)")
            ann = "n.document_type, n.domain, n.educational_score"
        con.execute("DROP VIEW IF EXISTS paragraph_facts")
        con.execute(PARAGRAPH_FACTS_SQL.format(dup=dup, ann=ann, joins="\n".join(joins)))
        created.append("paragraph_facts")

    manifests = read_manifests(run)
    variants, shards = manifest_tables(manifests)
    con.register("_variants_in", variants)
    con.register("_shards_in", shards)
    con.execute("CREATE OR REPLACE TABLE variants AS SELECT * FROM _variants_in")
    con.execute("CREATE OR REPLACE TABLE variant_shards AS SELECT * FROM _shards_in")
    con.unregister("_variants_in")
    con.unregister("_shards_in")
    created += ["variants", "variant_shards"]
    files = [str(run.table(f"variants/{name}") / sh["path"]) for name, m in manifests.items()
             for s in m["splits"].values() for sh in s["shards"]]
    if files:
        listing = ", ".join(_sql_str(f) for f in files)
        # variant and split come from the shard's path: variants/<variant>/<split>/part-*.parquet
        con.execute(f"""CREATE OR REPLACE VIEW variant_rows AS
            SELECT split_part(filename, '/', -3) AS variant, split_part(filename, '/', -2) AS split,
                   * EXCLUDE (filename)
            FROM read_parquet([{listing}], filename = true, union_by_name = true)""")
        created.append("variant_rows")
    return created


def build_catalog(run: RunDir) -> dict[str, Any]:
    """Write ``RUN_DIR/catalog.duckdb`` atomically (a temp file renamed into place)."""
    if not run.root.is_dir():
        raise FileNotFoundError(f"run directory not found: {run.root}")
    fd, tmp = tempfile.mkstemp(dir=run.root, prefix=".catalog.", suffix=".duckdb")
    os.close(fd)
    os.unlink(tmp)  # DuckDB wants to create the file itself
    try:
        con = duckdb.connect(tmp)
        try:
            created = define_views(con, run)
            con.execute("CREATE TABLE _catalog AS SELECT ? AS run_root, ? AS built_at, ? AS objects",
                        [str(run.root), datetime.now(timezone.utc).isoformat(timespec="seconds"), json.dumps(created)])
        finally:
            con.close()
        os.replace(tmp, run.root / CATALOG_FILE)
    finally:
        for leftover in (Path(tmp), Path(tmp + ".wal")):
            leftover.unlink(missing_ok=True)
    log.info("catalog: %s with %s", run.root / CATALOG_FILE, ", ".join(created))
    return {"path": str(run.root / CATALOG_FILE), "objects": created}


def _stale(run: RunDir, path: Path) -> bool:
    """The catalog predates a table or variant marker, or was built for another location."""
    if not path.exists():
        return True
    built = path.stat().st_mtime
    markers = list(run.root.glob("*/_COMPLETE")) + list(run.root.glob("variants/*/_COMPLETE"))
    if any(m.stat().st_mtime > built for m in markers):
        return True
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            root = con.execute("SELECT run_root FROM _catalog").fetchone()[0]
        finally:
            con.close()
    except duckdb.Error:
        return True
    return root != str(run.root)


def connect(run: RunDir, rebuild_if_stale: bool = True) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the run's catalog, (re)built first when missing or stale."""
    path = run.root / CATALOG_FILE
    if rebuild_if_stale and _stale(run, path):
        build_catalog(run)
    return duckdb.connect(str(path), read_only=True)


def query(run: RunDir, sql: str) -> tuple[list[str], list[tuple]]:
    con = connect(run)
    try:
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, cur.fetchall()
    finally:
        con.close()


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("\n", "\\n")


def render_table(columns: list[str], rows: list[tuple], max_width: int = 60) -> str:
    """A plain aligned text table (numbers right-aligned)."""
    cells = [[_cell(v)[:max_width] for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) and rows
               for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return " | ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(columns), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)
