"""DuckDB catalog of a run directory: one view per table, plus the variant manifests.

``RUN_DIR/catalog.duckdb`` holds views over the Parquet tables and small tables copied from the
manifests. Every file path in a view is *relative to the run directory*, so the catalog keeps
working when the run is copied or moved: :func:`connect` opens it with DuckDB's
``file_search_path`` set to the run, and the DuckDB shell works from inside the run folder
(``cd RUN_DIR && duckdb catalog.duckdb``). Opened from anywhere else, a view fails with "No files
found" instead of silently reading another copy of the run. Every view and column carries a
``COMMENT`` (``SELECT * FROM duckdb_columns()``). Only complete tables (``_COMPLETE`` marker) get a
view. See docs/catalog.md for example queries.
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

from pipeline.catalog_comments import UNDESCRIBED, column_comment, view_comment
from pipeline.errors import NotARunError, UserError
from pipeline.rundir import MARKER, RunDir, file_mode

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.duckdb"
# Bumped when the catalog's layout changes: an older catalog is rebuilt on open.
CATALOG_FORMAT = 2
TABLES = ["articles", "paragraphs", "quarantine", "superseded", "dedup", "dedup_articles", "contamination",
          "sample", "labels", "annotations"]
# Folders of a run that are not tables to expose (model files, caches, work areas).
NOT_TABLES = {"model", "variants", "label_cache", "dedup_work", "reports", "contamination_work"}


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def is_run(run: RunDir) -> bool:
    """A folder holds a pmc-enrich run once ingest has published articles/ or paragraphs/ (the same
    rule as the stage runner's preconditions)."""
    return run.root.is_dir() and any(run.is_complete(t) for t in ("articles", "paragraphs"))


def require_run(run: RunDir) -> None:
    """Refuse a folder that is not a run (no catalog or report is created in it)."""
    if not is_run(run):
        raise NotARunError(run.root)


def parquet_source(run: RunDir, name: str) -> str | None:
    """A DuckDB ``read_parquet(...)`` expression for table ``name``, with a path relative to the run
    (resolved through ``file_search_path``), or None when the folder has no Parquet file."""
    folder = run.table(name)
    if any(folder.glob("*.parquet")):
        return f"read_parquet({_sql_str(f'{name}/*.parquet')})"
    if any(folder.glob("*/**/*.parquet")):  # hive-partitioned (key=value folders)
        return f"read_parquet({_sql_str(f'{name}/**/*.parquet')}, hive_partitioning = true)"
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
                shards.append(dict(variant=name, split=split, **{k: sh.get(k) for k in
                                                                 ("path", "rows", "tokens", "bytes", "sha256")}))
    split_schema = pa.schema([("variant", pa.string()), ("split", pa.string()), ("articles", pa.int64()),
                              ("paragraphs", pa.int64()), ("unique_rows", pa.int64()), ("rows", pa.int64()),
                              ("unique_tokens", pa.int64()), ("tokens", pa.int64()), ("bytes", pa.int64()),
                              ("n_shards", pa.int64()), ("tokenizer", pa.string()), ("seed", pa.int64()),
                              ("fingerprint", pa.string()), ("unit", pa.string()), ("created_at", pa.string())])
    shard_schema = pa.schema([("variant", pa.string()), ("split", pa.string()), ("path", pa.string()),
                              ("rows", pa.int64()), ("tokens", pa.int64()), ("bytes", pa.int64()),
                              ("sha256", pa.string())])
    return pa.Table.from_pylist(splits, schema=split_schema), pa.Table.from_pylist(shards, schema=shard_schema)


def extra_tables(run: RunDir) -> list[str]:
    """Complete table folders that later stages added (e.g. contamination/), in name order."""
    if not run.root.is_dir():
        return []
    return sorted(p.name for p in run.root.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in NOT_TABLES
                  and p.name not in TABLES and (p / MARKER).exists())


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {_ident(view)}").fetchall()]


def _paragraph_facts_sql(con: duckdb.DuckDBPyConnection, created: list[str],
                         sidecars: list[str]) -> tuple[str, dict[str, tuple[str, str]]]:
    """SQL of the paragraph_facts view and, per output column, the (view, column) it comes from."""
    origin: dict[str, tuple[str, str]] = {}
    select: list[str] = []

    def add(expr: str, name: str, source: tuple[str, str]) -> None:
        select.append(f"{expr} AS {_ident(name)}")
        origin[name] = source

    for c in _columns(con, "paragraphs"):
        add(f"p.{_ident(c)}", c, ("paragraphs", c))
    article_cols = set(_columns(con, "articles"))
    for c in ("journal", "year", "title", "license", "commercial", "article_type", "retracted", "languages"):
        if c in article_cols:
            add(f"a.{_ident(c)}", c, ("articles", c))
    if "language" in article_cols:
        add("a.language", "article_language", ("paragraph_facts", "article_language"))
    joins = ["JOIN articles a USING (article_id)"]
    if "dedup" in created:
        joins.append("LEFT JOIN dedup d USING (paragraph_id)")
        add("d.is_duplicate", "is_duplicate", ("dedup", "is_duplicate"))
        add("d.match", "dedup_match", ("paragraph_facts", "dedup_match"))
        for c in ("cluster_id", "cluster_size", "kept_paragraph_id"):
            add(f"d.{c}", c, ("dedup", c))
    else:
        add("NULL::BOOLEAN", "is_duplicate", ("paragraph_facts", "is_duplicate"))
    if "dedup_articles" in created:
        # An article may be flagged against one other article at most; min() keeps the view 1:1 regardless.
        joins.append("LEFT JOIN (SELECT article_id, min(other_article_id) AS reprint_of FROM dedup_articles "
                     "GROUP BY article_id) r USING (article_id)")
        add("r.reprint_of", "reprint_of", ("paragraph_facts", "reprint_of"))
    if "sample" in created:
        joins.append("LEFT JOIN (SELECT paragraph_id, min(stratum) AS stratum FROM sample GROUP BY paragraph_id) s "
                     "USING (paragraph_id)")
        add("s.paragraph_id IS NOT NULL", "in_sample", ("paragraph_facts", "in_sample"))
        add("s.stratum", "sample_stratum", ("paragraph_facts", "sample_stratum"))
    if "labels" in created:
        # One valid label per paragraph: the newest, then the first labeller by name (deterministic).
        joins.append("LEFT JOIN (SELECT DISTINCT ON (paragraph_id) paragraph_id, document_type, domain, "
                     "educational_score, labeller FROM labels WHERE status = 'ok' AND paragraph_id IS NOT NULL "
                     "ORDER BY paragraph_id, created_at DESC, labeller) l USING (paragraph_id)")
        for c in ("document_type", "domain", "educational_score"):
            add(f"l.{c}", f"llm_{c}", ("paragraph_facts", f"llm_{c}"))
        add("l.labeller", "labeller", ("paragraph_facts", "labeller"))
    if "annotations" in created:
        joins.append("LEFT JOIN annotations n USING (paragraph_id)")
        for c in _columns(con, "annotations"):
            if c != "paragraph_id":
                add(f"n.{_ident(c)}", c, ("annotations", c))
    else:
        add("NULL::VARCHAR", "document_type", ("annotations", "document_type"))
        add("NULL::VARCHAR", "domain", ("annotations", "domain"))
        add("NULL::DOUBLE", "educational_score", ("annotations", "educational_score"))
    if "contamination" in created:
        # Several rows per paragraph (one per benchmark item it overlaps): one row per paragraph here.
        joins.append("LEFT JOIN (SELECT paragraph_id, list(DISTINCT benchmark ORDER BY benchmark) AS benchmarks, "
                     "max(overlap) AS max_overlap FROM contamination GROUP BY paragraph_id) c USING (paragraph_id)")
        add("c.paragraph_id IS NOT NULL", "is_contaminated", ("paragraph_facts", "is_contaminated"))
        add("c.benchmarks", "contamination_benchmarks", ("paragraph_facts", "contamination_benchmarks"))
        add("c.max_overlap", "contamination_max_overlap", ("paragraph_facts", "contamination_max_overlap"))
    for i, name in enumerate(sidecars):
        alias = f"x{i}"
        cols = _columns(con, name)
        key = "paragraph_id" if "paragraph_id" in cols else "article_id"
        others = [c for c in cols if c not in ("paragraph_id", "article_id")]
        unique = con.execute(f"SELECT count(*) = count(DISTINCT {key}) FROM {_ident(name)}").fetchone()[0]
        if unique:
            joins.append(f"LEFT JOIN {_ident(name)} {alias} ON {alias}.{key} = p.{key}")
            for c in others:
                add(f"{alias}.{_ident(c)}", f"{name}_{c}", (name, c))
        else:  # several rows per key: paragraph_facts stays one row per paragraph, the rows as a sorted list
            row = "struct_pack(" + ", ".join(f"{_ident(c)} := {_ident(c)}" for c in others) + ")"
            items = f", list({row} ORDER BY {row}) AS _items" if others else ""
            joins.append(f"LEFT JOIN (SELECT {key}, count(*) AS _rows{items} FROM {_ident(name)} GROUP BY {key}) "
                         f"{alias} ON {alias}.{key} = p.{key}")
            add(f"coalesce({alias}._rows, 0)", f"{name}_rows", ("paragraph_facts", f"{name}_rows"))
            if others:
                add(f"{alias}._items", name, ("=", f"The rows of the {name}/ sidecar for this paragraph, as a "
                                                   f"sorted list of structs."))
    sql = ("CREATE OR REPLACE VIEW paragraph_facts AS\nSELECT " + ",\n       ".join(select)
           + "\nFROM paragraphs p\n" + "\n".join(joins))
    return sql, origin


def _comment(con: duckdb.DuckDBPyConnection, view: str, kind: str,
             origin: dict[str, tuple[str, str]] | None = None) -> None:
    """COMMENT ON the view and every one of its columns."""
    con.execute(f"COMMENT ON {kind} {_ident(view)} IS {_sql_str(view_comment(view))}")
    for c in _columns(con, view):
        text = column_comment(view, c)
        if origin and c in origin and origin[c][0] == "=":  # a literal description
            text = origin[c][1]
        elif origin and c in origin and text == UNDESCRIBED.format(view=view):
            src_view, src_col = origin[c]
            text = column_comment(src_view, src_col)
            if src_view not in ("paragraph_facts", "paragraphs", "articles"):
                text = f"{src_view}: {text}"
        con.execute(f"COMMENT ON COLUMN {_ident(view)}.{_ident(c)} IS {_sql_str(text)}")


def define_catalog(con: duckdb.DuckDBPyConnection, run: RunDir) -> list[str]:
    """The views plus the ``_catalog`` table that says when and from what they were made."""
    created = define_views(con, run)
    con.execute("CREATE TABLE _catalog AS SELECT ? AS built_at, ? AS objects, 'relative' AS paths, ? AS format",
                [datetime.now(timezone.utc).isoformat(timespec="seconds"), json.dumps(created), CATALOG_FORMAT])
    _comment(con, "_catalog", "TABLE")
    return created


def define_views(con: duckdb.DuckDBPyConnection, run: RunDir) -> list[str]:
    """Create the catalog's views and tables on ``con``, with paths relative to the run (the
    connection's ``file_search_path`` is set to it); returns the names created."""
    con.execute(f"SET file_search_path = {_sql_str(str(run.root))}")
    created: list[str] = []
    extras = extra_tables(run)
    for name in TABLES + extras:
        if not run.is_complete(name):
            continue
        source = parquet_source(run, name)
        if source is None:
            log.warning("catalog: %s/ is complete but holds no Parquet file; no view", name)
            continue
        con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS SELECT * FROM {source}")
        _comment(con, name, "VIEW")
        created.append(name)

    if {"paragraphs", "articles"} <= set(created):
        sidecars = [n for n in extras if n in created and
                    {"paragraph_id", "article_id"} & set(_columns(con, n))]
        sql, origin = _paragraph_facts_sql(con, created, sidecars)
        con.execute(sql)
        _comment(con, "paragraph_facts", "VIEW", origin)
        created.append("paragraph_facts")

    manifests = read_manifests(run)
    variants, shards = manifest_tables(manifests)
    con.register("_variants_in", variants)
    con.register("_shards_in", shards)
    con.execute("CREATE OR REPLACE TABLE variants AS SELECT * FROM _variants_in")
    con.execute("CREATE OR REPLACE TABLE variant_shards AS SELECT * FROM _shards_in")
    con.unregister("_variants_in")
    con.unregister("_shards_in")
    _comment(con, "variants", "TABLE")
    _comment(con, "variant_shards", "TABLE")
    created += ["variants", "variant_shards"]
    files = [f"variants/{name}/{sh['path']}" for name, m in manifests.items()
             for s in m["splits"].values() for sh in s["shards"]]
    if files:
        listing = ", ".join(_sql_str(f) for f in files)
        # variant and split come from the shard's path: variants/<variant>/<split>/part-*.parquet
        con.execute(f"""CREATE OR REPLACE VIEW variant_rows AS
            SELECT split_part(filename, '/', -3) AS variant, split_part(filename, '/', -2) AS split,
                   * EXCLUDE (filename)
            FROM read_parquet([{listing}], filename = true, union_by_name = true)""")
        _comment(con, "variant_rows", "VIEW")
        created.append("variant_rows")
    return created


def build_catalog(run: RunDir) -> dict[str, Any]:
    """Write ``RUN_DIR/catalog.duckdb`` atomically (a temp file renamed into place)."""
    require_run(run)
    fd, tmp = tempfile.mkstemp(dir=run.root, prefix=".catalog.", suffix=".duckdb")
    os.close(fd)
    os.unlink(tmp)  # DuckDB wants to create the file itself
    try:
        con = duckdb.connect(tmp)
        try:
            created = define_catalog(con, run)
        finally:
            con.close()
        os.chmod(tmp, file_mode())  # the umask's mode, as every file of the run
        os.replace(tmp, run.root / CATALOG_FILE)
    finally:
        for leftover in (Path(tmp), Path(tmp + ".wal")):
            leftover.unlink(missing_ok=True)
    log.info("catalog: %s with %s", run.root / CATALOG_FILE, ", ".join(created))
    return {"path": str(run.root / CATALOG_FILE), "objects": created}


def _stale(run: RunDir, path: Path) -> bool:
    """The catalog is missing, predates a table or variant marker, or has an older layout."""
    if not path.exists():
        return True
    built = path.stat().st_mtime
    markers = list(run.root.glob(f"*/{MARKER}")) + list(run.root.glob(f"variants/*/{MARKER}"))
    if any(m.stat().st_mtime > built for m in markers):
        return True
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            fmt = con.execute("SELECT format FROM _catalog").fetchone()[0]
        finally:
            con.close()
    except duckdb.Error:  # no _catalog table, or no format column: an older layout
        return True
    return fmt != CATALOG_FORMAT


def connect(run: RunDir, rebuild_if_stale: bool = True) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the run's catalog; the views' relative paths resolve against the run
    wherever it now lives. A missing or stale ``catalog.duckdb`` is not rewritten here (the catalog
    stage does that, under the stage runner): the same views are made in memory for this session."""
    require_run(run)
    path = run.root / CATALOG_FILE
    if rebuild_if_stale and _stale(run, path):
        log.info("catalog: %s is missing or older than the run's tables; querying fresh in-memory views "
                 "(`pmc-enrich catalog %s` updates the file)", path, run.root)
        con = duckdb.connect(config={"file_search_path": str(run.root)})
        define_catalog(con, run)
        return con
    return duckdb.connect(str(path), read_only=True, config={"file_search_path": str(run.root)})


def _user_error(exc: duckdb.Error) -> UserError:
    first = str(exc).strip().splitlines()[0]
    return UserError(f"query failed: {first}",
                     hint="list the views with: SELECT view_name, comment FROM duckdb_views() WHERE NOT internal")


def query(run: RunDir, sql: str) -> tuple[list[str], list[tuple]]:
    """Run ``sql`` on the catalog → (column names, rows). A failing query is a UserError."""
    con = connect(run)
    try:
        try:
            cur = con.execute(sql)
        except duckdb.Error as exc:
            raise _user_error(exc) from None
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, cur.fetchall()
    finally:
        con.close()


def query_arrow(run: RunDir, sql: str) -> pa.Table:
    """Run ``sql`` on the catalog → an Arrow table (types kept, for Parquet output)."""
    con = connect(run)
    try:
        try:
            rel = con.sql(sql)
            table = rel.to_arrow_table() if rel is not None else None
        except duckdb.Error as exc:
            raise _user_error(exc) from None
        if table is None:
            raise UserError("the statement returns no result to write", hint="use a SELECT")
        return table
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
