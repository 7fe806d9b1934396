"""Ingest: PMC-OA packages and loose JATS files → articles, paragraphs, quarantine, superseded.

How the work spreads (see docs/ingest.md):

1. The driver lists the inputs (``pipeline.sources.discover_inputs``): one *unit* per package,
   loose files in chunks of ``ingest.files_per_chunk``.
2. Each unit is one Spark job writing a *staged* table (``RUN_DIR/.ingest-stage/<unit key>``):
   a package is streamed by one task (members out one at a time, as Arrow batches), then
   ``repartition``-ed so parsing runs in many tasks; loose files are parallelised directly (a
   ``range`` of file indexes). Parsing is a ``mapInArrow``: Python hands the JVM Arrow record
   batches of the staging schema, never pickled rows. Units run as concurrent jobs
   (``ingest.concurrent_inputs``). A rerun after a crash reuses finished stages.
3. Merge: keep the latest copy of each article (``superseded/`` records the others), sort, write
   the four tables atomically, then ``reports/ingest.json``; the stages are deleted.

No document can fail the job: a ``JatsError`` becomes a quarantine row with the parser's reason,
anything unexpected a ``parser_crash`` row.
"""

from __future__ import annotations

import logging
import math
import pickle
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from pipeline.config import PipelineConfig
from pipeline.config.ingest import language_rules
from pipeline.errors import UserError
from pipeline.rundir import RunDir, write_spark_table
from pipeline.sources import (
    Discovery,
    Document,
    InputUnit,
    Problem,
    apply_package_metadata,
    discover_inputs,
    read_file,
    read_unit,
)
from schemas.ingest import ARTICLES, PARAGRAPHS, QUARANTINE, STAGE, SUPERSEDED

log = logging.getLogger(__name__)

STAGE_ROOT = ".ingest-stage"
TABLES = ("articles", "paragraphs", "quarantine", "superseded")
ERROR_CHARS = 500
PACKAGE_COMPRESSION = 4.5  # ≈ XML bytes per compressed package byte (PMC bulk packages)
# Arrow batch bounds (memory, not results): staged rows handed to the JVM per batch, and package
# members per batch out of the streaming task (each member's XML travels in the batch).
STAGE_BATCH_ROWS = 4096
MEMBER_BATCH_BYTES = 16 * 1024 * 1024
MEMBER_BATCH_RECORDS = 256

DEFINITIONS = {
    "document": "one loose file, one package member, or one filelist row whose member is missing "
                "(a truncated package without a filelist counts its unreadable rest as one document)",
    "documents.seen": "documents that entered the job (seen_in_packages: package members and filelist "
                      "rows, seen_loose: loose files and whole unreadable packages)",
    "documents.parsed": "documents that yielded at least one article (superseded copies included)",
    "documents.quarantined": "documents with a row in quarantine/ (exactly one each)",
    "articles.parsed": "article rows produced by parsing (a bundle document yields several)",
    "articles.kept": "rows in articles/: the latest copy of each article_id",
    "articles.superseded": "rows in superseded/: older copies dropped in favour of a kept one",
    "articles.failed_in_bundles": "articles that failed inside a multi-article document whose other "
                                  "articles parsed; each has a quarantine row (source '<doc>#failed-<k>', "
                                  "reason article_failed) on top of the per-document rows",
    "licence_groups": "commercial: commercial=true; noncommercial: a CC licence with NC; other: licence none",
    "languages": "kept articles per main language (article column language; unknown: none declared or detected)",
    "articles_by_language_any": "kept articles whose languages list holds the language (declared xml:lang of "
                                "article, trans-abstracts, sub-articles, plus well-supported detected ones)",
    "articles_multilingual": "kept articles with more than one language",
    "paragraphs_by_language": "paragraphs per reliable language (unknown: too short or identifier not confident)",
}


class ReconciliationError(RuntimeError):
    """parsed + quarantined != seen: a document went missing (a bug, never silent)."""


# ------------------------------------------------------------------------ rows (executor side)

# Field names in schema order, and the non-nullable ones: looked up once, not per row (a paragraph
# row is built ~150M times on the full corpus).
_ARTICLE_FIELDS = tuple(ARTICLES.names)
_PARAGRAPH_FIELDS = tuple(PARAGRAPHS.names)
_ARTICLE_REQUIRED = tuple(f.name for f in ARTICLES if not f.nullable)
_PARAGRAPH_REQUIRED = tuple(f.name for f in PARAGRAPHS if not f.nullable)


def _article_tuple(a: dict) -> tuple:
    return tuple(map(a.get, _ARTICLE_FIELDS))


def _paragraph_tuple(p: dict) -> tuple:
    return tuple(map(p.get, _PARAGRAPH_FIELDS))


def _check_required(row: dict, required: tuple[str, ...], what: str) -> None:
    for name in required:
        if row.get(name) is None:
            raise ValueError(f"{what} field {name!r} is null")


def _q_rows(source: str, reason: str, error: str) -> list[tuple]:
    return [("D", source, None, None, None, None),
            ("Q", source, None, None, None, (source, reason, (error or "")[:ERROR_CHARS]))]


def _parse_document_rows(doc: Document, detect_language: bool, language_rules=None) -> list[tuple]:
    """All stage rows of one document: D, then its A and P rows, or one Q row."""
    from pipeline.jats import JatsError, parse_document

    try:
        failures: list = []
        parsed = parse_document(doc.data, doc.source, detect_language=detect_language, errors=failures,
                                language_rules=language_rules)
        if not parsed:
            return _q_rows(doc.source, "no_article", "the document holds no article")
        rows: list[tuple] = [("D", doc.source, None, None, None, None)]
        # A bundle whose other articles parsed: each failed article gets its own quarantine row
        # (kind F, so document counts stay exact).
        for k, failure in enumerate(failures):
            src = f"{doc.source}#failed-{k}"
            rows.append(("F", doc.source, None, None, None,
                         (src, getattr(failure, "reason", "article_failed"), str(getattr(failure, "message", failure))[:ERROR_CHARS])))
        for index, item in enumerate(parsed):
            article = dict(item.article)
            paragraphs = [dict(p) for p in item.paragraphs]
            article["source"] = doc.source
            apply_package_metadata(article, paragraphs, doc.meta, doc.group, single=len(parsed) == 1)
            article["n_paragraphs"] = len(paragraphs)
            _check_required(article, _ARTICLE_REQUIRED, "article")
            rows.append(("A", doc.source, index, _article_tuple(article), None, None))
            for p in paragraphs:
                _check_required(p, _PARAGRAPH_REQUIRED, "paragraph")
                rows.append(("P", doc.source, index, None, _paragraph_tuple(p), None))
        return rows
    except JatsError as exc:
        return _q_rows(doc.source, exc.reason, exc.message)
    except Exception as exc:  # a parser bug must cost one document, not the job
        return _q_rows(doc.source, "parser_crash", f"{type(exc).__name__}: {exc}")


def _parse_records(records: Iterable[Document | Problem], detect_language: bool,
                   language_rules=None) -> Iterator[tuple]:
    for rec in records:
        if isinstance(rec, Problem):
            yield from _q_rows(rec.source, rec.reason, rec.error)
        else:
            yield from _parse_document_rows(rec, detect_language, language_rules)


def _read_files(files: Iterable[tuple[str, str, int]], max_bytes: int) -> Iterator[Document | Problem]:
    for url, name, _ in files:
        yield read_file(url, name, max_bytes)


# ------------------------------------------------------------------ Arrow batches (executor side)

def _stage_batch(rows: list[tuple]) -> pa.RecordBatch:
    """Stage rows (tuples in STAGE's column order) → one Arrow record batch of the STAGE schema."""
    columns = list(zip(*rows)) if rows else [()] * len(STAGE)
    return pa.RecordBatch.from_arrays([pa.array(col, type=f.type) for col, f in zip(columns, STAGE)], schema=STAGE)


def _stage_batches(rows: Iterable[tuple], batch_rows: int = STAGE_BATCH_ROWS):
    """Stage rows in Arrow batches of at most ``batch_rows`` (a document's rows may straddle two)."""
    pending: list[tuple] = []
    for row in rows:
        pending.append(row)
        if len(pending) >= batch_rows:
            yield _stage_batch(pending)
            pending = []
    if pending:
        yield _stage_batch(pending)


# The records streamed out of a package: source (the shuffle key) and the pickled Document or
# Problem (member bytes + filelist row), private to the staging plan.
MEMBERS = pa.schema([pa.field("source", pa.string(), nullable=False), pa.field("record", pa.binary(), nullable=False)])


def _member_batch(sources: list[str], records: list[bytes]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(sources, pa.string()), pa.array(records, pa.binary())],
                                      schema=MEMBERS)


def _member_batches(batches, unit: InputUnit, max_bytes: int):
    """mapInArrow body of the streaming task (its input: the one-row range that starts it): every
    record of one package, in bounded Arrow batches."""
    for _ in batches:  # read the input to its end, so the worker's stream stays in step when reused
        pass
    sources: list[str] = []
    records: list[bytes] = []
    size = 0
    for rec in read_unit(unit, max_bytes):
        blob = pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL)
        sources.append(rec.source)
        records.append(blob)
        size += len(blob)
        if size >= MEMBER_BATCH_BYTES or len(records) >= MEMBER_BATCH_RECORDS:
            yield _member_batch(sources, records)
            sources, records, size = [], [], 0
    if records:
        yield _member_batch(sources, records)


def _parse_member_batches(batches, detect_language: bool, language_rules=None):
    """mapInArrow body of a parse task over package members: member batches in, stage batches out."""
    def records():
        for batch in batches:
            for blob in batch.column("record").to_pylist():
                yield pickle.loads(blob)

    yield from _stage_batches(_parse_records(records(), detect_language, language_rules))


def _parse_file_batches(batches, files: tuple[tuple[str, str, int], ...], max_bytes: int,
                        detect_language: bool, language_rules=None):
    """mapInArrow body of a parse task over loose files: batches of file indexes in, stage batches out."""
    def chosen():
        for batch in batches:
            for i in batch.column(0).to_pylist():
                yield files[i]

    yield from _stage_batches(_parse_records(_read_files(chosen(), max_bytes), detect_language, language_rules))


# ----------------------------------------------------------------------------- staging (driver)

def _stage_name(unit: InputUnit) -> str:
    return f"{STAGE_ROOT}/{unit.key}"


def _parse_partitions(spark, unit: InputUnit, cfg: PipelineConfig) -> int:
    icfg = cfg.ingest
    floor = max(1, spark.sparkContext.defaultParallelism)
    if unit.kind == "package":
        if icfg.parse_partitions:
            return icfg.parse_partitions
        return max(floor, math.ceil(unit.size / (icfg.partition_mb * 1024 * 1024)))
    xml_mb = icfg.partition_mb * PACKAGE_COMPRESSION
    return max(1, min(len(unit.files), max(floor, math.ceil(unit.size / (xml_mb * 1024 * 1024)))))


def stage_unit(spark, run: RunDir, unit: InputUnit, cfg: PipelineConfig) -> dict:
    """Parse one input unit into its staged table; returns the stage marker."""
    from schemas import to_spark

    spark.sparkContext.setLocalProperty("spark.job.description", f"ingest {unit.name}")
    n = _parse_partitions(spark, unit, cfg)
    max_bytes = cfg.ingest.max_member_bytes
    detect = cfg.ingest.detect_language
    rules = language_rules(cfg.ingest)
    stage_type = to_spark(STAGE)
    if unit.kind == "package":
        # One task streams the archive; the shuffle (on the JVM side, Arrow in and out) spreads its
        # members over n parse tasks.
        members = spark.range(0, 1, 1, 1).mapInArrow(
            lambda batches: _member_batches(batches, unit, max_bytes), to_spark(MEMBERS))
        df = members.repartition(n, "source").mapInArrow(
            lambda batches: _parse_member_batches(batches, detect, rules), stage_type)
    else:
        files = tuple(unit.files)
        # File i of the unit is row i of a range: n contiguous slices, no shuffle, no pickled rows.
        df = spark.range(0, len(files), 1, n).mapInArrow(
            lambda batches: _parse_file_batches(batches, files, max_bytes, detect, rules), stage_type)
    started = time.time()
    meta = {"unit": unit.name, "key": unit.key, "kind": unit.kind, "partitions": n,
            "parse_settings": _parse_settings(cfg)}
    write_spark_table(df, run, _stage_name(unit), meta=meta)
    log.info("ingest: staged %s in %.1fs (%d parse partitions)", unit.name, time.time() - started, n)
    return meta


def _parse_settings(cfg: PipelineConfig) -> str:
    """What a staged unit's rows depend on besides its bytes: the ingest settings (knobs left out)
    and the parser version. A unit staged with other settings is parsed again, never reused."""
    import hashlib
    import json

    from pipeline import jats
    from pipeline.stage import section_settings

    blob = json.dumps({"ingest": section_settings(cfg.ingest), "parser": getattr(jats, "PARSER_VERSION", "0")},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stage_units(spark, run: RunDir, units: list[InputUnit], cfg: PipelineConfig) -> tuple[int, int]:
    """Stage every unit not staged yet with these settings (concurrent Spark jobs); returns (parsed
    now, reused)."""
    current = _parse_settings(cfg)
    pending = [u for u in units if (run.marker(_stage_name(u)) or {}).get("parse_settings") != current]
    reused = len(units) - len(pending)
    if reused:
        log.info("ingest: %d of %d inputs already staged by an earlier run; reusing them", reused, len(units))
    if not pending:
        return 0, reused
    workers = max(1, min(cfg.ingest.concurrent_inputs, len(pending)))
    if workers == 1:
        for unit in pending:
            stage_unit(spark, run, unit, cfg)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
            for future in [pool.submit(stage_unit, spark, run, u, cfg) for u in pending]:
                future.result()  # re-raise the first failure (a Spark/IO error, not a bad document)
    return len(pending), reused


# ------------------------------------------------------------------------------- merge (driver)

def _files_for(n_rows: int, cfg: PipelineConfig) -> int:
    return max(1, math.ceil(n_rows / cfg.ingest.rows_per_file))


def _write_table(df, run: RunDir, name: str, meta: dict[str, Any], sort_by: list[str]) -> int:
    """Publish one ingest table (already partitioned by article); returns its row count."""
    started = time.time()
    write_spark_table(df, run, name, meta, sort_by=sort_by)
    rows = run.marker(name)["rows"]
    log.info("ingest: wrote %s (%d rows) in %.1fs", name, rows, time.time() - started)
    return rows


def _article_figures(run: RunDir) -> dict:
    """Licence groups, licences, languages, retractions from the written articles table (small
    columns, read in the driver: cheaper than more Spark jobs)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(run.table("articles"), columns=["license", "commercial", "language", "languages", "retracted"])
    commercial = t.column("commercial")
    cc = pc.not_equal(t.column("license"), "none")
    groups = {
        "commercial": pc.sum(commercial).as_py() or 0,
        "noncommercial": pc.sum(pc.and_(pc.invert(commercial), cc)).as_py() or 0,
        "other": pc.sum(pc.invert(cc)).as_py() or 0,
    }
    licences = {r["values"]: r["counts"] for r in pc.value_counts(t.column("license")).to_pylist()}
    langs = [(r["values"] or "unknown", r["counts"]) for r in pc.value_counts(t.column("language")).to_pylist()]
    langs = sorted(langs, key=lambda kv: (-kv[1], kv[0]))[:20]
    # every language an article is written in ("fr" in languages is how a recipe selects French)
    any_lang = pc.list_flatten(t.column("languages"))
    any_langs = sorted(((r["values"], r["counts"]) for r in pc.value_counts(any_lang).to_pylist()),
                       key=lambda kv: (-kv[1], kv[0])) if len(any_lang) else []
    return {
        "licence_groups": groups,
        "licences": dict(sorted(licences.items())),
        "languages": dict(langs),
        "articles_by_language_any": dict(any_langs[:20]),
        "articles_multilingual": pc.sum(pc.greater(pc.list_value_length(t.column("languages")), 1)).as_py() or 0,
        "retracted": pc.sum(t.column("retracted")).as_py() or 0,
    }


def _paragraph_languages(run: RunDir) -> dict:
    """Paragraph count per reliable language ("unknown": no trusted language), top 20.

    Counted in the driver from the written files' one small column, a batch at a time (memory
    stays bounded on the full corpus): no Spark job to re-read what the write just materialised."""
    from collections import Counter

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    totals: Counter = Counter()
    for path in sorted(run.table("paragraphs").glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(columns=["language"], batch_size=1 << 20):
            for r in pc.value_counts(batch.column(0)).to_pylist():
                totals[r["values"] or "unknown"] += r["counts"]
    counts = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(counts[:20])


def _merge(spark, run: RunDir, units: list[InputUnit], cfg: PipelineConfig, meta: dict[str, Any]) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from schemas import to_spark

    stage = spark.read.schema(to_spark(STAGE)).parquet(*[str(run.table(_stage_name(u))) for u in units])
    # One pass for every document/article count the report reconciles.
    agg = stage.agg(*[F.count(F.when(F.col("kind") == k, 1)).alias(k) for k in "DAPQF"],
                    F.count(F.when((F.col("kind") == "D") & F.col("source").contains("::"), 1)).alias("in_packages"),
                    F.count_distinct(F.when(F.col("kind") == "A", F.col("source"))).alias("parsed_docs")).first()
    seen, quarantined, failed_in_bundles = agg["D"], agg["Q"], agg["F"]
    articles_parsed, paragraphs_parsed, parsed_docs = agg["A"], agg["P"], agg["parsed_docs"]

    arts = stage.where("kind = 'A'").select(F.col("doc_index").alias("_doc_index"), "article.*")
    # Which copy wins: latest last_updated, then the greatest source name, then the first article
    # of a document (documented in schemas/ingest.py and docs/ingest.md).
    order = Window.partitionBy("article_id").orderBy(
        F.col("last_updated").desc_nulls_last(), F.col("source").desc(), F.col("_doc_index").asc())
    ranked = arts.withColumn("_rank", F.row_number().over(order)) \
        .withColumn("_kept_source", F.first("source").over(order)).cache()
    kept = ranked.where("_rank = 1")
    superseded = ranked.where("_rank > 1").select(
        "article_id", "source", "last_updated", F.col("_kept_source").alias("kept_source"))
    paras = stage.where("kind = 'P'").select("source", F.col("doc_index").alias("_doc_index"), "paragraph.*")
    paras = paras.join(kept.select("article_id", "source", "_doc_index"),
                       on=["article_id", "source", "_doc_index"], how="left_semi")
    quarantine = stage.where("kind IN ('Q', 'F')").select("quarantine.*")

    # Hash-partitioned by article (an article's paragraphs share a file), sorted within: the same
    # input gives the same rows in the same files in the same order.
    n_kept = _write_table(kept.select(*ARTICLES.names).repartition(_files_for(articles_parsed, cfg), "article_id"),
                          run, "articles", meta, ["article_id"])
    n_paragraphs = _write_table(
        paras.select(*PARAGRAPHS.names).repartition(_files_for(paragraphs_parsed, cfg), "article_id"),
        run, "paragraphs", meta, ["article_id", "ordinal"])
    n_quarantine = _write_table(quarantine.select(*QUARANTINE.names).coalesce(1), run, "quarantine", meta,
                                ["source", "reason", "error"])
    n_superseded = _write_table(superseded.select(*SUPERSEDED.names).coalesce(1), run, "superseded", meta,
                                ["article_id", "source"])
    ranked.unpersist()

    reasons = pq.read_table(run.table("quarantine"), columns=["reason"]).column("reason")
    by_reason = {r["values"]: r["counts"] for r in pc.value_counts(reasons).to_pylist()} if len(reasons) else {}
    figures = _article_figures(run)
    figures["paragraphs_by_language"] = _paragraph_languages(run)
    return {
        "documents": {
            "seen": seen,
            "seen_in_packages": agg["in_packages"],
            "seen_loose": seen - agg["in_packages"],
            "parsed": parsed_docs,
            "quarantined": quarantined,
            "invariant": "parsed + quarantined == seen",
            "reconciled": parsed_docs + quarantined == seen,
        },
        "articles": {"parsed": articles_parsed, "kept": n_kept, "superseded": n_superseded,
                     "failed_in_bundles": failed_in_bundles, "retracted": figures.pop("retracted")},
        "paragraphs": n_paragraphs,
        "paragraphs_parsed": paragraphs_parsed,
        "quarantine_rows": n_quarantine,
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        **figures,
    }


# --------------------------------------------------------------------------------- entry point

def build(ctx) -> dict:
    """Ingest ``cfg.inputs`` into the run; the runner (pipeline.stage) owns skip, refuse and report."""
    spark, run, cfg = ctx.spark, ctx.run, ctx.cfg
    inputs = list(cfg.inputs)
    started = time.time()
    discovery: Discovery = discover_inputs(inputs, files_per_chunk=cfg.ingest.files_per_chunk)
    units = discovery.units
    if not units:
        raise UserError(f"nothing to ingest under {inputs}", hint="give .tar.gz/.tgz packages, .xml/.nxml/.xml.gz "
                        "files or folders holding them")
    # Parquet timestamps as INT64 micros, UTC-adjusted (schemas.ingest says timestamp[us, UTC]);
    # Spark's default INT96 reads back as naive nanoseconds elsewhere.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    if ctx.overwrite:
        shutil.rmtree(run.table(STAGE_ROOT), ignore_errors=True)

    log.info("ingest: %d packages, %d loose files in %d units → %s",
             discovery.n_packages, discovery.n_files, len(units), run.root)
    parsed_now, reused = stage_units(spark, run, units, cfg)
    log.info("ingest: inputs staged after %.1fs; merging", time.time() - started)
    figures = _merge(spark, run, units, cfg, ctx.meta())
    figures = {
        "inputs": {
            "arguments": inputs,
            "packages": discovery.n_packages,
            "loose_files": discovery.n_files,
            "units": len(units),
            "units_parsed": parsed_now,
            "units_reused": reused,
            "ignored_files": len(discovery.ignored),
            "ignored_examples": discovery.ignored[:20],
        },
        **figures,
        "definitions": DEFINITIONS,
    }
    shutil.rmtree(run.table(STAGE_ROOT), ignore_errors=True)
    docs = figures["documents"]
    if not docs["reconciled"]:
        raise ReconciliationError(
            f"ingest: parsed {docs['parsed']} + quarantined {docs['quarantined']} != seen {docs['seen']}")
    log.info("ingest: %d documents seen, %d parsed, %d quarantined; %d articles, %d paragraphs",
             docs["seen"], docs["parsed"], docs["quarantined"], figures["articles"]["kept"], figures["paragraphs"])
    return figures


def main(argv: list[str] | None = None) -> None:
    """``spark-submit jobs/ingest.py INPUT... --out RUN_DIR`` with exactly the CLI's options."""
    from jobs._submit import submit_main

    submit_main("ingest", argv)


if __name__ == "__main__":
    main()
