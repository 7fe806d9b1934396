"""Decontaminate: flag paragraphs that share word n-grams with benchmark test items → contamination/.

Plan (see docs/decontamination.md):

1. The driver reads every benchmark file (``pipeline.decontam.readers``) and indexes the normalised
   word n-grams of its items (``pipeline.decontam.index``): hash → items holding it.
2. Small index (≤ ``decontaminate.broadcast_max_ngrams`` n-grams, the usual case: a test set of a
   few thousand items holds a few hundred thousand 13-grams): it is broadcast, and each task matches
   its paragraphs against it in Python (``mapInArrow``), one pass, no shuffle.
   Large index: the index is written as a table and joined with every paragraph n-gram position on the
   hash (a shuffle), then counted per (paragraph, item). Both plans give the same rows.
3. Rows are written sorted, so the same input gives the same files; the report counts flagged
   paragraphs and articles per benchmark.

Paragraph rows are never rewritten: recipes drop the paragraph ids found in contamination/.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.errors import UserError
from pipeline.rundir import RunDir, read_table, write_spark_table
from schemas import to_spark
from schemas.contamination import CONTAMINATION, INDEX, ITEMS, PARAGRAPH_NGRAMS

log = logging.getLogger(__name__)

TABLE = "contamination"
ROWS_PER_FILE = 1_000_000
SORT = ["paragraph_id", "benchmark", "item_id"]


def load_index(cfg: PipelineConfig):
    """Read the configured benchmark files and index their n-grams; returns (index, per-file figures)."""
    from pipeline.decontam.index import build_index
    from pipeline.decontam.readers import read_benchmark

    d = cfg.decontaminate
    items, files = [], {}
    for path in d.benchmarks:
        found = read_benchmark(path, d.format, d.text_fields, d.id_field)
        items.extend(found)
        name = found[0].benchmark
        if name in files:
            raise UserError(f"two benchmark files are both named {name!r} ({files[name]['path']}, {path})",
                            hint="rename one: the file name (without extensions) is the benchmark's name")
        files[name] = {"path": str(path), "items": len(found)}
    index = build_index(items, d.ngram)
    for name, n in index.ngrams_per_benchmark.items():
        files[name]["ngrams"] = n
    return index, files


def _empty(spark):
    return spark.createDataFrame([], to_spark(CONTAMINATION))


def _broadcast_plan(spark, paragraphs, index, d):
    from pipeline.decontam.match import match_batches

    shared = spark.sparkContext.broadcast(index)
    min_ngrams, min_overlap = d.min_ngrams, d.min_overlap
    return paragraphs.mapInArrow(lambda batches: match_batches(batches, shared.value, min_ngrams, min_overlap),
                                 to_spark(CONTAMINATION))


def _write_index(run: RunDir, index) -> tuple[str, str, str]:
    """The index and item list as Parquet files in a hidden temp folder (read back by Spark)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = run.tmp_path("decontaminate-index")
    (tmp / "index").mkdir(parents=True)
    (tmp / "items").mkdir()
    hashes, items = [], []
    for h, k in index.rows():
        hashes.append(h)
        items.append(k)
    pq.write_table(pa.Table.from_arrays([pa.array(hashes, pa.int64()), pa.array(items, pa.int32())], schema=INDEX),
                   tmp / "index" / "part-0.parquet")
    bench, ids = zip(*index.items) if index.items else ((), ())
    pq.write_table(pa.Table.from_arrays([pa.array(range(len(index.items)), pa.int32()), pa.array(bench, pa.string()),
                                         pa.array(ids, pa.string())], schema=ITEMS), tmp / "items" / "part-0.parquet")
    return str(tmp), str(tmp / "index"), str(tmp / "items")


def _join_plan(spark, run, paragraphs, index, d):
    from pyspark.sql import functions as F

    from pipeline.decontam.match import ngram_batches

    tmp, index_path, items_path = _write_index(run, index)
    n = d.ngram
    grams = paragraphs.mapInArrow(lambda batches: ngram_batches(batches, n), to_spark(PARAGRAPH_NGRAMS))
    idx = spark.read.schema(to_spark(INDEX)).parquet(index_path)
    items = spark.read.schema(to_spark(ITEMS)).parquet(items_path)
    counted = (grams.join(idx, "hash")
               .groupBy("paragraph_id", "item")
               .agg(F.count(F.lit(1)).cast("int").alias("matched_ngrams"), F.first("n_ngrams").alias("n_ngrams"))
               .withColumn("overlap", F.col("matched_ngrams") / F.col("n_ngrams"))
               .where((F.col("matched_ngrams") >= d.min_ngrams) & (F.col("overlap") >= d.min_overlap)))
    rows = counted.join(F.broadcast(items), "item").select(*CONTAMINATION.names)
    return rows, tmp


def _figures(spark, run: RunDir, files: dict, index, plan: str, n_paragraphs: int | None) -> dict[str, Any]:
    from pyspark.sql import functions as F

    table = read_table(spark, run, TABLE)
    article = F.regexp_extract("paragraph_id", r"^(.*):\d+$", 1)
    total = table.agg(F.count(F.lit(1)).alias("rows"), F.count_distinct("paragraph_id").alias("paragraphs"),
                      F.count_distinct(article).alias("articles")).first()
    per = {r["benchmark"]: r for r in table.groupBy("benchmark").agg(
        F.count_distinct("paragraph_id").alias("paragraphs"), F.count_distinct("item_id").alias("items")).collect()}
    benchmarks = {}
    for name, info in sorted(files.items()):
        r = per.get(name)
        benchmarks[name] = {**info, "paragraphs_flagged": r["paragraphs"] if r else 0,
                            "items_matched": r["items"] if r else 0}
    return {
        "ngram": index.n,
        "plan": plan,
        "index_ngrams": index.n_ngrams,
        "benchmark_items": len(index.items),
        "paragraphs": n_paragraphs,
        "paragraphs_flagged": total["paragraphs"],
        "articles_flagged": total["articles"],
        "rows": total["rows"],
        "benchmarks": benchmarks,
    }


def build_decontaminate(spark, run: RunDir, cfg: PipelineConfig, meta: dict[str, Any] | None = None,
                        loaded: tuple | None = None) -> dict:
    """Write contamination/ for ``cfg.decontaminate``; returns the stage's figures. ``loaded``: the
    ``load_index(cfg)`` result when the caller already read the benchmarks."""
    d = cfg.decontaminate
    meta = dict(meta or {})
    if not d.enabled or not d.benchmarks:
        why = "disabled by config (decontaminate.enabled=false)" if not d.enabled else \
            "no benchmark files (give --benchmark FILE or decontaminate.benchmarks)"
        log.warning("decontaminate: %s; writing an empty contamination/ (nothing flagged)", why)
        write_spark_table(_empty(spark), run, TABLE, meta={**meta, "ngram": d.ngram, "benchmarks": {}}, partitions=1)
        return {"enabled": d.enabled, "benchmarks": {}, "paragraphs_flagged": 0, "articles_flagged": 0, "rows": 0,
                "note": why}
    started = time.time()
    index, files = loaded or load_index(cfg)
    t_index = round(time.time() - started, 2)
    log.info("decontaminate: %d items, %d distinct %d-grams from %d files in %.1fs", len(index.items),
             index.n_ngrams, d.ngram, len(files), t_index)
    paragraphs = read_table(spark, run, "paragraphs").select("paragraph_id", "text")
    plan = "broadcast" if index.n_ngrams <= d.broadcast_max_ngrams else "join"
    tmp = None
    if plan == "broadcast":
        rows = _broadcast_plan(spark, paragraphs, index, d)
    else:
        rows, tmp = _join_plan(spark, run, paragraphs, index, d)
    try:
        rows = rows.localCheckpoint(eager=True)  # counted, then written: match once
        n_rows = rows.count()
        write_spark_table(rows, run, TABLE, partitions=max(1, math.ceil(n_rows / ROWS_PER_FILE)), sort_by=SORT,
                          meta={**meta, "ngram": d.ngram, "rows": n_rows,
                                "benchmarks": {k: v["path"] for k, v in files.items()}})
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    marker = run.marker("paragraphs") or {}
    figures = _figures(spark, run, files, index, plan, marker.get("rows"))
    figures["timings"] = {"index_s": t_index, "total_s": round(time.time() - started, 2)}
    log.info("decontaminate: %d paragraphs of %d articles flagged (%s plan)", figures["paragraphs_flagged"],
             figures["articles_flagged"], plan)
    return figures


def build(ctx) -> dict:
    """Stage entry point (pipeline.stages: needs paragraphs, writes contamination). Benchmark files
    are read before Spark starts, so a bad file costs one line of error and no JVM."""
    d = ctx.cfg.decontaminate
    loaded = load_index(ctx.cfg) if d.enabled and d.benchmarks else None
    return build_decontaminate(ctx.spark, ctx.run, ctx.cfg, meta=ctx.meta(), loaded=loaded)


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import submit_main

    submit_main("decontaminate", argv)


if __name__ == "__main__":
    main()
