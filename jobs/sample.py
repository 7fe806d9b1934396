"""Spark wrapper: stratified sample of non-duplicate paragraphs → RUN_DIR/sample + reports/sample.json.

The per-row logic (stratum columns, order key) and the allocation are pure functions in
``pipeline.sampling``; Spark only applies them, counts strata, and picks the first rows of each
stratum by order key with a window.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pyarrow as pa

from pipeline import sampling
from pipeline.config import PipelineConfig, SampleConfig
from pipeline.rundir import RunDir, write_json_atomic, write_spark_table
from schemas import to_spark
from schemas.sample import DERIVED, SAMPLE

log = logging.getLogger(__name__)

STAGE = "sample"


def _derive_batches(scfg: SampleConfig):
    """mapInArrow function: paragraph+article columns → DERIVED rows (too-short ones flagged
    ``eligible=False`` so one aggregation counts them too)."""
    known = tuple(scfg.article_types)
    bounds = tuple(scfg.length_buckets)

    def derive(batches):
        for batch in batches:
            cols = batch.to_pydict()
            out: dict[str, list] = {f.name: [] for f in DERIVED}
            for i, pid in enumerate(cols["paragraph_id"]):
                n_words = int(cols["n_words"][i] or 0)
                n_tokens = sampling.estimate_tokens(n_words, scfg.tokens_per_word)
                values = {
                    "article_type": sampling.article_type_group(cols["article_type"][i], known),
                    "section_family": sampling.section_family(cols["zone"][i], cols["section_path"][i]),
                    "language": sampling.language_group(cols["language"][i] or cols["article_language"][i]),
                    "licence_group": sampling.licence_group(cols["license"][i], cols["commercial"][i]),
                    "length_bucket": sampling.length_bucket(n_tokens, bounds),
                }
                out["paragraph_id"].append(pid)
                out["article_id"].append(cols["article_id"][i])
                out["text"].append(cols["text"][i])
                out["n_words"].append(n_words)
                out["n_tokens"].append(n_tokens)
                for k, v in values.items():
                    out[k].append(v)
                out["stratum"].append(sampling.stratum_key(values))
                out["order_key"].append(sampling.order_key(scfg.seed, pid))
                out["eligible"].append(n_tokens >= scfg.min_tokens)
            yield pa.RecordBatch.from_pydict(out, schema=DERIVED)

    return derive


def _non_duplicates(spark, run: RunDir, paragraphs):
    """Drop paragraphs the dedup sidecar flags; without a sidecar, keep all (with a warning)."""
    path = run.table("dedup")
    if not path.exists():
        log.warning("no dedup/ sidecar in %s: sampling from all paragraphs, duplicates included", run.root)
        return paragraphs, False
    if not run.is_complete("dedup"):
        log.warning("dedup/ exists but has no _COMPLETE marker: using it anyway")
    from pyspark.sql import functions as F

    dups = spark.read.parquet(str(path)).where(F.col("is_duplicate")).select("paragraph_id").distinct()
    return paragraphs.join(dups, "paragraph_id", "left_anti"), True


def run_sample(spark, run: RunDir, cfg: PipelineConfig, size: int | None = None, fraction: float | None = None,
               overwrite: bool = False, **_: Any) -> dict:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    scfg = cfg.sample.model_copy(update={k: v for k, v in {"size": size, "fraction": fraction}.items() if v is not None})
    if size is not None and fraction is None:
        scfg = scfg.model_copy(update={"fraction": None})
    if fraction is not None and size is None:
        scfg = scfg.model_copy(update={"size": None})
    if run.is_complete(STAGE) and not overwrite and run.report(STAGE).exists():
        import json

        log.info("sample/ is complete; skipping (use --overwrite to redo)")
        return json.loads(run.report(STAGE).read_text())
    if scfg.size is None and scfg.fraction is None:
        raise ValueError("sample: give --size or --fraction (or sample.size / sample.fraction in the config)")
    for table in ("paragraphs", "articles"):
        if not run.is_complete(table):
            raise FileNotFoundError(f"{run.table(table)} is missing or incomplete: run `pmc-enrich ingest` first")
    run.clean_temporaries()
    started = time.time()

    paragraphs = spark.read.parquet(str(run.table("paragraphs")))
    n_paragraphs = paragraphs.count()  # from Parquet metadata
    paragraphs, dedup_used = _non_duplicates(spark, run, paragraphs)
    articles = spark.read.parquet(str(run.table("articles"))).select(
        "article_id", "article_type", "license", "commercial", F.col("language").alias("article_language"))
    joined = paragraphs.select("paragraph_id", "article_id", "zone", "section_path", "text", "n_words", "language") \
        .join(articles, "article_id", "left")
    derived = joined.mapInArrow(_derive_batches(scfg), to_spark(DERIVED)).cache()

    # one pass counts everything: eligible rows per stratum, and the too-short ones
    counted = derived.groupBy(*sampling.STRATUM_COLUMNS, "stratum", "eligible").count().collect()
    strata_rows = [r for r in counted if r["eligible"]]
    too_short = sum(r["count"] for r in counted if not r["eligible"])
    populations = {r["stratum"]: r["count"] for r in strata_rows}
    eligible = sum(populations.values())
    n_non_dup = eligible + too_short
    target = sampling.target_size(eligible, scfg.size, scfg.fraction)
    allocation = sampling.allocate(populations, target, scfg.floor)

    alloc_df = spark.createDataFrame([(k, int(v)) for k, v in allocation.items()], "stratum string, allocated long")
    window = Window.partitionBy("stratum").orderBy("order_key", "paragraph_id")
    chosen = (derived.where(F.col("eligible")).join(F.broadcast(alloc_df), "stratum")
              .withColumn("_rank", F.row_number().over(window))
              .where(F.col("_rank") <= F.col("allocated"))
              .select(*SAMPLE.names))
    n_parts = max(1, min(64, target // 50_000 + 1))
    meta = {"rows": target, "seed": scfg.seed, "size": scfg.size, "fraction": scfg.fraction}
    write_spark_table(chosen, run, STAGE, meta=meta, partitions=n_parts, sort_by=["stratum", "paragraph_id"])

    sampled = {r["stratum"]: r["count"] for r in
               spark.read.parquet(str(run.table(STAGE))).groupBy("stratum").count().collect()}
    derived.unpersist()
    strata = sorted(
        ({**{c: r[c] for c in sampling.STRATUM_COLUMNS}, "stratum": r["stratum"], "population": r["count"],
          "allocated": allocation.get(r["stratum"], 0), "sampled": sampled.get(r["stratum"], 0)}
         for r in strata_rows),
        key=lambda d: (-d["population"], d["stratum"]))
    report = {
        "stage": STAGE,
        "seed": scfg.seed,
        "size": scfg.size,
        "fraction": scfg.fraction,
        "min_tokens": scfg.min_tokens,
        "tokens_per_word": scfg.tokens_per_word,
        "floor": scfg.floor,
        "dedup_used": dedup_used,
        "paragraphs": n_paragraphs,
        "duplicates_excluded": n_paragraphs - n_non_dup,
        "too_short": n_non_dup - eligible,
        "eligible": eligible,
        "target": target,
        "sampled": sum(sampled.values()),
        "n_strata": len(strata),
        "strata": strata,
        "elapsed_s": round(time.time() - started, 2),
    }
    write_json_atomic(run.report(STAGE), report)
    log.info("sample: %d of %d eligible paragraphs in %d strata", report["sampled"], eligible, len(strata))
    return report


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import stage_parser, submit

    parser = stage_parser("Stratified sample of paragraphs for LLM labelling.")
    parser.add_argument("--size", type=int)
    parser.add_argument("--fraction", type=float)
    args = parser.parse_args(argv)
    submit("sample", args, size=args.size, fraction=args.fraction, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
