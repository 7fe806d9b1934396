"""Spark wrapper: stratified sample of non-duplicate paragraphs → RUN_DIR/sample + reports/sample.json.

The per-row logic (stratum columns, order key) and the allocation are pure functions in
``pipeline.sampling``; Spark only applies them, counts strata, and picks the first rows of each
stratum by order key with a window.
"""

from __future__ import annotations

import logging
import time

import pyarrow as pa

from pipeline import sampling
from pipeline.config import SampleConfig
from pipeline.errors import UserError
from pipeline.rundir import RunDir, read_table
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
                out["zone"].append(cols["zone"][i])
                out["section_path"].append(cols["section_path"][i])
            yield pa.RecordBatch.from_pydict(out, schema=DERIVED)

    return derive


def _non_duplicates(spark, run: RunDir, paragraphs):
    """Drop paragraphs the dedup sidecar flags; without a sidecar, keep all (with a warning)."""
    if not run.is_complete("dedup"):
        log.warning("no complete dedup/ sidecar in %s: sampling from all paragraphs, duplicates included", run.root)
        return paragraphs, False
    from pyspark.sql import functions as F

    dups = read_table(spark, run, "dedup").where(F.col("is_duplicate")).select("paragraph_id").distinct()
    return paragraphs.join(dups, "paragraph_id", "left_anti"), True


def build(ctx) -> dict:
    """Stratified sample → sample/ (the runner owns skip, preconditions and the report)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark, run, scfg = ctx.spark, ctx.run, ctx.cfg.sample
    started = time.time()

    paragraphs = ctx.read("paragraphs")
    n_paragraphs = paragraphs.count()  # from Parquet metadata
    paragraphs, dedup_used = _non_duplicates(spark, run, paragraphs)
    articles = ctx.read("articles").select(
        "article_id", "article_type", "license", "commercial", F.col("language").alias("article_language"))
    joined = paragraphs.select("paragraph_id", "article_id", "zone", "section_path", "text", "n_words", "language") \
        .join(articles, "article_id", "left")
    derived = joined.mapInArrow(_derive_batches(scfg), to_spark(DERIVED)).cache()

    if scfg.strategy != "stratified":
        figures = _active_round(ctx, derived, scfg)
        derived.unpersist()
        figures.update({"paragraphs": n_paragraphs, "dedup_used": dedup_used})
        log.info("sample: round %d (%s): %d new of %d candidates, %d carried over, in %.1fs", figures["round"],
                 scfg.strategy, figures["new"], figures["pool"], figures["carried"], time.time() - started)
        return figures

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
              .withColumn("round", F.lit(0).cast("int")).withColumn("strategy", F.lit("stratified"))
              .select(*SAMPLE.names))
    n_parts = max(1, min(64, target // 50_000 + 1))
    meta = {"rows": target, "seed": scfg.seed, "size": scfg.size, "fraction": scfg.fraction}
    ctx.write(chosen, STAGE, partitions=n_parts, sort_by=["stratum", "paragraph_id"], **meta)

    sampled = {r["stratum"]: r["count"] for r in ctx.read(STAGE).groupBy("stratum").count().collect()}
    derived.unpersist()
    strata = sorted(
        ({**{c: r[c] for c in sampling.STRATUM_COLUMNS}, "stratum": r["stratum"], "population": r["count"],
          "allocated": allocation.get(r["stratum"], 0), "sampled": sampled.get(r["stratum"], 0)}
         for r in strata_rows),
        key=lambda d: (-d["population"], d["stratum"]))
    figures = {
        "strategy": "stratified",
        "round": 0,
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
    }
    log.info("sample: %d of %d eligible paragraphs in %d strata in %.1fs", figures["sampled"], eligible, len(strata),
             time.time() - started)
    return figures


def _active_round(ctx, derived, scfg: SampleConfig) -> dict:
    """One active-learning round: the rows labelled so far (carried over with their round and
    strategy) plus ``size`` new eligible, non-duplicate, unlabelled rows chosen by the student
    (pipeline.active_pool). The round number is one more than the highest in labels/, so the
    output depends on the inputs only and a rerun of the same round gives the same sample."""
    from pyspark.sql import functions as F

    from pipeline.active_pool import choose, load_current_student

    if not ctx.has("labels"):
        raise UserError(f"sample --strategy {scfg.strategy} needs labels/ and a trained student",
                        hint="label a first (stratified) sample and run `pmc-enrich train` first")
    student = load_current_student(scfg.model or ctx.run.table("model"))
    labels = (ctx.read("labels").where(F.col("paragraph_id").isNotNull())
              .select("paragraph_id", "text", F.coalesce(F.col("round"), F.lit(0)).alias("round"),
                      F.coalesce(F.col("strategy"), F.lit("stratified")).alias("strategy"))
              .dropDuplicates(["paragraph_id"]))
    labelled = labels.cache()
    n_labelled = labelled.count()
    this_round = int(labelled.agg(F.max("round")).first()[0] or 0) + 1

    pool = derived.where(F.col("eligible")).join(labelled.select("paragraph_id"), "paragraph_id", "left_anti")
    n_pool = pool.count()
    target = sampling.target_size(n_pool, scfg.size, scfg.fraction)
    candidates = (pool.orderBy("order_key", "paragraph_id").limit(scfg.pool_limit)
                  .select("paragraph_id", "text", "zone", "section_path", "article_type").collect())
    ids = [r["paragraph_id"] for r in candidates]
    context = {"section_path": [r["section_path"] for r in candidates], "zone": [r["zone"] for r in candidates],
               "article_type": [r["article_type"] for r in candidates]}
    from classifiers.io import context_from_columns

    labelled_texts = []
    if scfg.strategy == "diverse":  # k-center measures distance from what is labelled already
        labelled_texts = [r["text"] for r in labelled.orderBy("paragraph_id").limit(50_000).select("text").collect()]
    chosen = choose(scfg.strategy, ids, [r["text"] for r in candidates], context_from_columns(context), student,
                    target, random_share=scfg.random_share, method=scfg.uncertainty, seed=scfg.seed,
                    candidates=scfg.candidates, head_weights=scfg.head_weights, labelled_texts=labelled_texts)
    picked = ctx.spark.createDataFrame([(ids[i], why) for i, why in chosen], "paragraph_id string, strategy string")
    new = (derived.join(F.broadcast(picked), "paragraph_id")
           .withColumn("round", F.lit(this_round).cast("int")).select(*SAMPLE.names))
    carried = (derived.join(labelled.select("paragraph_id", "round", "strategy"), "paragraph_id")
               .withColumn("round", F.col("round").cast("int")))
    out = carried.select(*SAMPLE.names).unionByName(new)
    n_parts = max(1, min(64, (n_labelled + target) // 50_000 + 1))
    ctx.write(out, STAGE, partitions=n_parts, sort_by=["round", "paragraph_id"], rows=n_labelled + len(chosen),
              strategy=scfg.strategy, round=this_round)
    written = {(r["round"], r["strategy"]): r["count"] for r in
               ctx.read(STAGE).groupBy("round", "strategy").count().collect()}
    labelled.unpersist()
    return {
        "strategy": scfg.strategy, "round": this_round, "seed": scfg.seed, "size": scfg.size,
        "fraction": scfg.fraction, "random_share": scfg.random_share, "uncertainty": scfg.uncertainty,
        "head_weights": scfg.head_weights,
        "labelled_before": n_labelled, "pool": n_pool, "scored": len(ids), "target": target, "new": len(chosen),
        "carried": sum(v for (rnd, _), v in written.items() if rnd != this_round),
        "sampled": sum(written.values()),
        "by_round_and_strategy": [{"round": k[0], "strategy": k[1], "rows": v} for k, v in sorted(written.items())],
    }


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import submit_main

    submit_main("sample", argv)


if __name__ == "__main__":
    main()
