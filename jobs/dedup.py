"""Spark job: exact + near-duplicate detection over paragraphs/ → dedup/, dedup_articles/,
reports/dedup.json.

1. Signatures (pure Python in ``mapInArrow``, ``pipeline.dedup.batch``): normalised-text hash,
   distinct shingle hashes and LSH band keys per paragraph → ``dedup_work/signatures`` (reused on a
   rerun with the same inputs and parameters: the expensive step is resumable on its own).
2. Exact duplicates: group by exact_hash; the keep rule picks each group's representative.
3. Near duplicates among the representatives with ≥ min_shingles shingles: explode (band, key),
   group into buckets, pair members (all pairs; oversized buckets only against anchors), verify
   pairs by exact Jaccard of the stored shingle sets, connected components in Spark.
4. Clusters = near components over exact groups; cluster_id = min paragraph_id (stable), the keep
   rule picks the kept paragraph; article-level reprint flags; report.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from pipeline.config.dedup import DEDUP_VERSION, DedupConfig
from pipeline.dedup.batch import signature_batches
from pipeline.dedup.keep import KEEP_RULE_DOC, MISSING_TIME, MISSING_YEAR
from pipeline.dedup.lsh import s_curve_midpoint, s_curve_table
from pipeline.rundir import RunDir, read_table, write_spark_table
from schemas import to_spark
from schemas.dedup import DEDUP, DEDUP_ARTICLES, SIGNATURES

log = logging.getLogger(__name__)

SIGNATURES_TABLE = "dedup_work/signatures"
HISTOGRAM_BINS = [(2, 2), (3, 3), (4, 4), (5, 9), (10, 99), (100, 999), (1000, None)]


def _version(d: DedupConfig) -> str:
    return f"{DEDUP_VERSION}+{d.params_hash()}"


def _roundtrip(obj: Any) -> Any:
    """What a marker written with json.dumps(default=str) reads back as."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


# ----------------------------------------------------------------------------------------- steps
def compute_signatures(spark: SparkSession, run: RunDir, d: DedupConfig, input_marker: Any) -> DataFrame:
    """Signature table, computed once per (input, signature parameters) and reused on reruns."""
    meta = _roundtrip({"signature_params": d.signature_params(), "min_shingles": d.min_shingles,
                       "version": DEDUP_VERSION, "paragraphs": input_marker})
    if run.is_complete(SIGNATURES_TABLE) and run.marker(SIGNATURES_TABLE) == meta:
        log.info("dedup: reusing %s", run.table(SIGNATURES_TABLE))
    else:
        cfg = d.model_copy()
        paragraphs = read_table(spark, run, "paragraphs").select("paragraph_id", "text")
        sigs = paragraphs.mapInArrow(lambda batches: signature_batches(batches, cfg), to_spark(SIGNATURES))
        write_spark_table(sigs, run, SIGNATURES_TABLE, meta)
    return read_table(spark, run, SIGNATURES_TABLE)


def keep_key(prefix: str = "") -> Any:
    """The keep rule as a Spark struct; ``min`` of it picks the kept paragraph (pipeline.dedup.keep)."""
    return F.struct(
        F.when(F.col(f"{prefix}commercial"), F.lit(0)).otherwise(F.lit(1)).alias("k_commercial"),
        F.coalesce(F.col(f"{prefix}year"), F.lit(MISSING_YEAR)).alias("k_year"),
        F.coalesce(F.col(f"{prefix}last_updated"), F.lit(MISSING_TIME).cast("timestamp")).alias("k_updated"),
        F.col(f"{prefix}article_id").alias("k_article_id"),
        F.col(f"{prefix}ordinal").alias("k_ordinal"),
        F.col(f"{prefix}paragraph_id").alias("k_paragraph_id"),
        F.col(f"{prefix}exact_hash").alias("k_exact_hash"),  # carried along, never decides (ids are unique)
    )


def candidate_pairs(reps: DataFrame, d: DedupConfig) -> tuple[DataFrame, DataFrame]:
    """LSH banding as a shuffle: (band, key) buckets → candidate pairs (a < b).

    Buckets with more than max_bucket_size members (typically boilerplate families) are paired only
    against their first ``bucket_anchors`` members, which keeps the pair count linear in the
    bucket size; the oversized buckets are returned for the report.
    """
    buckets = (reps.select("paragraph_id", F.posexplode("bands").alias("band", "key"))
               .groupBy("band", "key")
               .agg(F.sort_array(F.collect_list("paragraph_id")).alias("ids"))
               .withColumn("n", F.size("ids"))
               .where(F.col("n") > 1)
               .localCheckpoint(eager=True))  # read twice: pairs and the oversized-bucket report
    limit = F.when(F.col("n") <= d.max_bucket_size, F.col("n") - 1).otherwise(F.lit(d.bucket_anchors))
    pairs_expr = F.expr(
        "flatten(transform(sequence(0, least(n - 2, lim - 1)), "
        "i -> transform(slice(ids, i + 2, n - i - 1), y -> named_struct('a', ids[i], 'b', y))))")
    pairs = (buckets.withColumn("lim", limit)
             .select(F.explode(pairs_expr).alias("p"))
             .select(F.col("p.a").alias("a"), F.col("p.b").alias("b"))
             .distinct())
    oversized = buckets.where(F.col("n") > d.max_bucket_size).select("band", "n", F.col("ids")[0].alias("first_id"))
    return pairs, oversized


def candidate_shingles(pairs: DataFrame, reps: DataFrame) -> DataFrame:
    """The shingle sets of the paragraphs that are in at least one candidate pair.

    Verification and the centre split join shingle sets to pairs and components several times; each
    sort-merge join shuffles both sides. Filtering the signatures once to the candidates (in a
    real corpus a small share of all paragraphs) means one shuffle of all signatures instead of
    four, and the later joins move only the candidates' rows."""
    ids = (pairs.select(F.col("a").alias("paragraph_id"))
           .union(pairs.select(F.col("b").alias("paragraph_id"))).distinct())
    return (reps.join(ids, "paragraph_id", "left_semi").select("paragraph_id", "shingles")
            .localCheckpoint(eager=True))


def verified_edges(pairs: DataFrame, reps: DataFrame, d: DedupConfig) -> DataFrame:
    """Candidate pairs with their exact Jaccard; only pairs at or above the threshold are edges."""
    if not d.verify:
        return pairs.withColumn("jaccard", F.lit(None).cast("double"))
    sa = reps.select(F.col("paragraph_id").alias("a"), F.col("shingles").alias("sa"))
    sb = reps.select(F.col("paragraph_id").alias("b"), F.col("shingles").alias("sb"))
    inter = F.size(F.array_intersect("sa", "sb"))
    scored = (pairs.join(sa, "a").join(sb, "b")
              .withColumn("jaccard", inter / (F.size("sa") + F.size("sb") - inter))
              .select("a", "b", "jaccard"))
    return scored.where(F.col("jaccard") >= F.lit(d.threshold))


def connected_components(edges: DataFrame, max_iterations: int) -> tuple[DataFrame, int]:
    """Connected components of an undirected edge list (a, b) entirely in Spark.

    Min-label propagation with pointer jumping: every node starts with the smallest id among
    itself and its neighbours; each round takes the min label over the neighbourhood and then
    jumps label ← label(label), which halves path lengths, so rounds grow ~log(diameter). Each
    round is checkpointed to cut the lineage. Returns (node, component = min node id) and rounds.
    """
    und = (edges.select(F.col("a").alias("src"), F.col("b").alias("dst"))
           .union(edges.select(F.col("b").alias("src"), F.col("a").alias("dst")))
           .localCheckpoint(eager=True))
    labels = (und.groupBy("src").agg(F.least(F.min("dst"), F.col("src")).alias("label"))
              .withColumnRenamed("src", "node").localCheckpoint(eager=True))
    for iteration in range(1, max_iterations + 1):
        neighbour_min = (und.join(labels.select(F.col("node").alias("dst"), F.col("label").alias("nl")), "dst")
                         .groupBy("src").agg(F.min("nl").alias("nl")))
        propagated = (labels.join(neighbour_min, labels.node == neighbour_min.src, "left")
                      .select("node", F.least("label", F.coalesce("nl", "label")).alias("label")))
        jumped = (propagated.alias("x")
                  .join(propagated.alias("y"), F.col("x.label") == F.col("y.node"))
                  .select(F.col("x.node").alias("node"), F.least(F.col("x.label"), F.col("y.label")).alias("label"))
                  .localCheckpoint(eager=True))
        changed = (jumped.alias("n").join(labels.alias("o"), "node")
                   .where(F.col("n.label") != F.col("o.label")).limit(1).count())
        labels = jumped
        if changed == 0:
            return labels.withColumnRenamed("label", "component"), iteration
    raise RuntimeError(f"dedup: connected components did not converge in {max_iterations} rounds "
                       f"(raise dedup.max_cc_iterations)")


def split_by_center(components: DataFrame, edges: DataFrame, reps: DataFrame, keys: DataFrame,
                    d: DedupConfig) -> tuple[DataFrame, dict]:
    """Split chained components so every near duplicate is similar to the paragraph it is merged into.

    Connected components are transitive: A~B and B~C put A and C together even when J(A, C) is far
    below the threshold (long chains of edits, templated texts). Each round, the component's best
    member by the keep rule becomes the centre; members with exact Jaccard ≥ threshold to it join
    its cluster; the rest (and their edges among themselves) go through components again. After
    ``max_split_rounds`` rounds, what is left stays unmerged. Returns (node, center) for every node
    of ``components`` and stats for the report.
    """
    shingles = reps.select(F.col("paragraph_id").alias("node"), F.col("shingles").alias("s_node"))
    center_shingles = reps.select(F.col("paragraph_id").alias("center"), F.col("shingles").alias("s_center"))
    assigned = None
    active = components
    stats = {"split_rounds": 0, "components_split": 0, "unmerged_after_split": 0}
    for round_no in range(1, d.max_split_rounds + 1):
        stats["split_rounds"] = round_no
        centers = (active.join(keys, "node").groupBy("component")
                   .agg(F.min("key").getField("k_paragraph_id").alias("center")))
        inter = F.size(F.array_intersect("s_node", "s_center"))
        scored = (active.join(centers, "component").join(shingles, "node").join(center_shingles, "center")
                  .withColumn("jaccard", inter / (F.size("s_node") + F.size("s_center") - inter)))
        ok = (scored.where((F.col("node") == F.col("center")) | (F.col("jaccard") >= F.lit(d.threshold)))
              .select("node", "center").localCheckpoint(eager=True))
        assigned = ok if assigned is None else assigned.unionByName(ok)
        rest = active.join(ok, "node", "left_anti").select("node", "component").localCheckpoint(eager=True)
        n_rest = rest.count()
        if n_rest == 0:
            break
        if round_no == 1:
            stats["components_split"] = rest.select("component").distinct().count()
        rest_ids = rest.select("node")
        rest_edges = (edges.join(rest_ids.withColumnRenamed("node", "a"), "a")
                      .join(rest_ids.withColumnRenamed("node", "b"), "b").select("a", "b")
                      .localCheckpoint(eager=True))
        if rest_edges.limit(1).count() == 0:
            stats["unmerged_after_split"] = n_rest
            break
        active, _ = connected_components(rest_edges, d.max_cc_iterations)
        unmerged = rest.join(active, "node", "left_anti").count()
        stats["unmerged_after_split"] += unmerged
    else:
        stats["unmerged_after_split"] += active.join(assigned, "node", "left_anti").count()
    return assigned.localCheckpoint(eager=True), stats


def article_flags(dedup: DataFrame, d: DedupConfig, version: str) -> DataFrame:
    """Articles most of whose paragraphs are dropped as copies of paragraphs of one other article
    (reprints, versions, corrections that repeat the original)."""
    members = dedup.where(F.col("cluster_size") > 1).select("cluster_id", "article_id", "paragraph_id")
    cluster_articles = members.select("cluster_id", "article_id").distinct()
    small = (cluster_articles.groupBy("cluster_id").count()
             .where(F.col("count") <= d.article_max_cluster_articles).select("cluster_id"))
    ca = cluster_articles.join(small, "cluster_id")
    pairs = (ca.alias("x").join(ca.alias("y"), "cluster_id")
             .where(F.col("x.article_id") != F.col("y.article_id"))
             .select("cluster_id", F.col("x.article_id").alias("article_id"),
                     F.col("y.article_id").alias("other_article_id")))
    # Only paragraphs the article loses count: the copy that keeps its text is not a reprint.
    dropped = dedup.where(F.col("is_duplicate")).select("cluster_id", "article_id", "paragraph_id")
    shared = (dropped.join(pairs, ["cluster_id", "article_id"])
              .groupBy("article_id", "other_article_id")
              .agg(F.countDistinct("paragraph_id").alias("n_shared")))
    per_article = dedup.groupBy("article_id").agg(
        F.count("*").alias("n_paragraphs"),
        F.avg(F.when(F.col("is_duplicate"), 0.0).otherwise(1.0)).alias("kept_share"))
    best = Window.partitionBy("article_id").orderBy(F.desc("n_shared"), F.asc("other_article_id"))
    return (shared.join(per_article, "article_id")
            .withColumn("share", F.col("n_shared") / F.col("n_paragraphs"))
            .where((F.col("share") > d.article_share) & (F.col("n_paragraphs") >= d.article_min_paragraphs))
            .withColumn("rank", F.row_number().over(best)).where(F.col("rank") == 1)
            .select(F.col("article_id"), F.col("other_article_id"),
                    F.col("n_paragraphs").cast("int"), F.col("n_shared").cast("int"),
                    F.col("share").cast("double"), F.col("kept_share").cast("double"),
                    F.lit(version).alias("dedup_version")))


def _histogram(sizes: dict[int, int]) -> dict[str, int]:
    out = {}
    for lo, hi in HISTOGRAM_BINS:
        label = str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+")
        out[label] = sum(c for s, c in sizes.items() if s >= lo and (hi is None or s <= hi))
    return out


# ------------------------------------------------------------------------------------------- job
def _keyed_paragraphs(spark: SparkSession, run: RunDir, sigs: DataFrame) -> DataFrame:
    """Every paragraph with its keep-rule key and the representative of its exact-duplicate group."""
    paragraphs = read_table(spark, run, "paragraphs").select("paragraph_id", "article_id", "ordinal")
    if run.is_complete("articles"):
        articles = read_table(spark, run, "articles").select(
            "article_id", "commercial", "year", F.col("last_updated").cast("timestamp").alias("last_updated"))
    else:
        log.warning("dedup: articles/ missing: keep rule falls back to article_id, ordinal")
        articles = spark.createDataFrame([], "article_id string, commercial boolean, year int, last_updated timestamp")
    base = (paragraphs.join(articles, "article_id", "left")
            .join(sigs.select("paragraph_id", "exact_hash", "n_shingles"), "paragraph_id")
            .withColumn("key", keep_key()))
    exact_groups = base.groupBy("exact_hash").agg(F.min("key").alias("rep_key"), F.count("*").alias("exact_size"))
    return (base.join(exact_groups, "exact_hash")
            .withColumn("rep_id", F.col("rep_key.k_paragraph_id"))
            .drop("rep_key")
            .localCheckpoint(eager=True))


def _near_assignment(base: DataFrame, sigs: DataFrame, d: DedupConfig):
    """Near duplicates among exact-group representatives: LSH candidates, verified edges, components
    split around their kept paragraph. Returns (node → centre, pairs, edges, oversized, rounds, stats)."""
    reps = (sigs.where(F.col("bands").isNotNull())
            .join(base.where(F.col("paragraph_id") == F.col("rep_id")).select("paragraph_id"), "paragraph_id")
            .select("paragraph_id", "shingles", "bands"))
    pairs, oversized = candidate_pairs(reps, d)
    pairs = pairs.localCheckpoint(eager=True)
    candidates = candidate_shingles(pairs, reps) if d.verify else reps
    edges = verified_edges(pairs, candidates, d).select("a", "b").localCheckpoint(eager=True)
    components, rounds = connected_components(edges, d.max_cc_iterations)
    if d.verify and d.center_split:
        keys = base.where(F.col("paragraph_id") == F.col("rep_id")).select(F.col("paragraph_id").alias("node"), "key")
        assignment, split_stats = split_by_center(components, edges, candidates, keys, d)
    else:
        assignment = components.withColumnRenamed("component", "center")
        split_stats = {"split_rounds": 0, "components_split": 0, "unmerged_after_split": 0}
    return assignment, pairs, edges, oversized, rounds, split_stats


def dedup_rows(base: DataFrame, assignment: DataFrame, d: DedupConfig, version: str) -> DataFrame:
    """Clusters over all paragraphs (paragraph → exact rep → near cluster centre) as DEDUP rows."""
    clustered = (base.join(assignment.select(F.col("node").alias("rep_id"), F.col("center").alias("component")),
                           "rep_id", "left")
                 .withColumn("component", F.coalesce("component", "rep_id")))
    clusters = clustered.groupBy("component").agg(
        F.min("paragraph_id").alias("cluster_id"), F.count("*").alias("cluster_size"), F.min("key").alias("kept_key"))
    dedup = (clustered.join(clusters, "component")
             .withColumn("kept_paragraph_id", F.col("kept_key.k_paragraph_id"))
             .withColumn("is_duplicate", F.col("paragraph_id") != F.col("kept_paragraph_id"))
             .withColumn("match", F.when(F.col("cluster_size") == 1, "unique")
                         .when(~F.col("is_duplicate"), "kept")
                         .when(F.col("exact_hash") == F.col("kept_key.k_exact_hash"), "exact")
                         .otherwise("near"))
             .select("paragraph_id", "article_id", "exact_hash", F.col("n_shingles").cast("int"),
                     (F.col("n_shingles") >= d.min_shingles).alias("near_eligible"), "cluster_id",
                     F.col("cluster_size").cast("int"), "is_duplicate", "kept_paragraph_id", "match",
                     F.lit(version).alias("dedup_version")))
    _check_schema(dedup, DEDUP)
    return dedup


def build(ctx) -> dict:
    """Exact + near-duplicate detection; writes dedup/ and dedup_articles/ (the runner owns the rest)."""
    spark, run, cfg = ctx.spark, ctx.run, ctx.cfg
    d = cfg.dedup
    if not d.enabled:
        # Earlier sidecars must not outlive the setting: later stages would still use them.
        for table in ("dedup", "dedup_articles"):
            shutil.rmtree(run.table(table), ignore_errors=True)
        log.info("dedup: disabled by config (dedup.enabled=false)")
        return {"disabled": True}
    version = _version(d)
    t0 = time.time()
    timings: dict[str, float] = {}
    sigs = compute_signatures(spark, run, d, run.marker("paragraphs"))
    timings["signatures_s"] = round(time.time() - t0, 2)

    base = _keyed_paragraphs(spark, run, sigs)
    t1 = time.time()
    assignment, pairs, edges, oversized, rounds, split_stats = _near_assignment(base, sigs, d)
    timings["lsh_and_components_s"] = round(time.time() - t1, 2)

    t2 = time.time()
    ctx.write(dedup_rows(base, assignment, d, version), "dedup", partitions=max(1, cfg.spark.shuffle_partitions),
              sort_by=["paragraph_id"], dedup_version=version)
    dedup = ctx.read("dedup")
    flags = article_flags(dedup, d, version)
    _check_schema(flags, DEDUP_ARTICLES)
    ctx.write(flags, "dedup_articles", partitions=1, sort_by=["article_id"], dedup_version=version)
    timings["clusters_and_write_s"] = round(time.time() - t2, 2)

    figures = dedup_figures(spark, run, d, version, dedup, pairs, edges, oversized, rounds)
    figures["lsh"].update(split_stats)
    timings["total_s"] = round(time.time() - t0, 2)
    figures["timings"] = timings
    if not d.keep_work:
        shutil.rmtree(run.table("dedup_work"), ignore_errors=True)
    log.info("dedup: %d paragraphs, %d exact + %d near duplicates in %.1fs", figures["paragraphs"],
             figures["exact_duplicates"], figures["near_duplicates"], timings["total_s"])
    return figures


def _check_schema(df: DataFrame, schema) -> None:
    expected = [f.name for f in schema]
    if df.columns != expected:
        raise AssertionError(f"dedup: columns {df.columns} != schema {expected}")


def dedup_figures(spark: SparkSession, run: RunDir, d: DedupConfig, version: str, dedup: DataFrame,
                 pairs: DataFrame, edges: DataFrame, oversized: DataFrame, rounds: int) -> dict:
    # One aggregation gives both the match counts and the cluster-size histogram.
    grouped = dedup.groupBy("match", "near_eligible", "cluster_size").count().collect()
    counts: dict[str, int] = {}
    members: dict[int, int] = {}
    for r in grouped:
        counts[r["match"]] = counts.get(r["match"], 0) + r["count"]
        if r["cluster_size"] > 1:
            members[r["cluster_size"]] = members.get(r["cluster_size"], 0) + r["count"]
    n = sum(counts.values())
    eligible = sum(r["count"] for r in grouped if r["near_eligible"])
    sizes = {size: k // size for size, k in members.items()}
    top = []
    if d.top_texts:
        top_clusters = (dedup.where("cluster_size > 1")
                        .groupBy("cluster_id", "kept_paragraph_id", "cluster_size")
                        .agg(F.sum(F.when(F.col("match") == "exact", 1).otherwise(0)).alias("n_exact"),
                             F.sum(F.when(F.col("match") == "near", 1).otherwise(0)).alias("n_near"),
                             F.countDistinct("article_id").alias("n_articles"))
                        .orderBy(F.desc("cluster_size"), "cluster_id").limit(d.top_texts))
        top_rows = top_clusters.collect()
        kept_ids = [r["kept_paragraph_id"] for r in top_rows]
        # Only the ≤ top_texts kept paragraphs are read back (a filter, not a join with all texts).
        texts = {r["paragraph_id"]: r["text"] for r in
                 read_table(spark, run, "paragraphs").where(F.col("paragraph_id").isin(kept_ids))
                 .select("paragraph_id", F.substring("text", 1, 300).alias("text")).collect()}
        for r in top_rows:
            top.append({"count": r["cluster_size"], "exact_copies": r["n_exact"], "near_copies": r["n_near"],
                        "articles": r["n_articles"], "cluster_id": r["cluster_id"],
                        "kept_paragraph_id": r["kept_paragraph_id"], "text": texts.get(r["kept_paragraph_id"])})
    oversized_rows = oversized.orderBy(F.desc("n"), "band", "first_id").limit(10).collect()
    # The three LSH counts in one job; the flagged articles from the table's marker (no job).
    sized = (pairs.select(F.lit("pairs").alias("what")).unionByName(edges.select(F.lit("edges").alias("what")))
             .unionByName(oversized.select(F.lit("oversized").alias("what"))).groupBy("what").count().collect())
    lsh_counts = {r["what"]: r["count"] for r in sized}
    n_pairs, n_edges, n_oversized = (lsh_counts.get(k, 0) for k in ("pairs", "edges", "oversized"))
    n_flagged = run.marker("dedup_articles")["rows"]
    return {
        "dedup_version": version,
        "paragraphs": n,
        "unique": counts.get("unique", 0),
        "clusters": sum(sizes.values()),
        "kept_in_clusters": counts.get("kept", 0),
        "exact_duplicates": counts.get("exact", 0),
        "near_duplicates": counts.get("near", 0),
        "duplicates": counts.get("exact", 0) + counts.get("near", 0),
        "duplicate_share": round((counts.get("exact", 0) + counts.get("near", 0)) / n, 6) if n else 0.0,
        "near_eligible": eligible,
        "below_min_shingles": n - eligible,
        "cluster_size_histogram": _histogram(sizes),
        "largest_cluster": max(sizes) if sizes else 1,
        "lsh": {
            "candidate_pairs": n_pairs,
            "verified_pairs": n_edges if d.verify else None,
            "rejected_pairs": n_pairs - n_edges if d.verify else None,
            "oversized_buckets": n_oversized,
            "largest_oversized_buckets": [{"band": r["band"], "size": r["n"], "first_paragraph_id": r["first_id"]}
                                          for r in oversized_rows],
            "oversized_bucket_handling": f"paired against their first {d.bucket_anchors} members only",
            "connected_component_rounds": rounds,
            "s_curve_midpoint": round(s_curve_midpoint(d.bands, d.rows), 4),
            "s_curve": {f"{s:.2f}": round(p, 4) for s, p in s_curve_table(d.bands, d.rows)},
        },
        "articles_flagged": n_flagged,
        "top_repeated_texts": top,
        "keep_rule": KEEP_RULE_DOC,
        "params": d.params(),
    }


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import submit_main

    submit_main("dedup", argv)


if __name__ == "__main__":
    main()
