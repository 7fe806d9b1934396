"""Emit: deduplicated, annotated paragraphs → pretraining shards, one variant per recipe.

    spark-submit jobs/emit.py RUN_DIR --recipe BE-All [--config FILE]

Spark gathers each article's non-duplicate paragraphs (with their annotations), applies the recipe
(pure Python, ``pipeline.emit.build_rows``) and counts tokens on the executors with the trainer's
tokenizer, repeats rows by their upsample factor (copies mode) and sorts them globally by
``(group, xxhash64(seed, id), id)`` (a deterministic global shuffle, range partitioned; a group is
``<split>/<part>[-x<factor>]``, see ``pipeline.emit.layout``). The shards are written by the
executors, in the same pass as the sort: ``mapInArrow`` runs directly on the sort's output, so each
task sees its partition — a contiguous range of the global order — in order, and writes it into
rolling zstd Parquet shards, one :class:`~pipeline.emit.shards.ShardWriter` per group, straight into
the variant's temporary folder (``<split>/<prefix>-<partition:05d>-<k:04d>.parquet``: file-name
order is the global order). Tasks return one small row per shard (path, rows, tokens, bytes,
sha256) and the sort keys of their first/last row. The driver checks the order across partitions
and reconciles the rows written with per-group counts from a separate Spark aggregation; Spark
tasks then convert each shard to the recipe's other formats (JSONL.gz, datatrove, Megatron). The
driver writes ``manifest.json``, ``mixture.json`` and the dataset card ``README.md`` and publishes
the whole variant folder atomically; any failure removes the temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from pipeline.config import PipelineConfig
from pipeline.emit.card import render_card
from pipeline.emit.layout import TRAIN, VALIDATION, group_name, group_of, parse_group, shard_name
from pipeline.emit.mixture import group_weights, mixture
from pipeline.emit.outputs import TOKENIZED_FORMATS, write_formats
from pipeline.emit.recipe import Recipe, load_recipe, resolve_recipe_path
from pipeline.emit.rows import build_rows
from pipeline.emit.shards import (SHARD_INFOS, TMP_PREFIX, ShardInfo, partition_writer, sha256_file,
                                  write_empty_shard)
from pipeline.emit.tokens import get_counter, get_tokenizer, tokenizer_digest
from pipeline.errors import UserError
from pipeline.rundir import RunDir, read_table, write_json_atomic, write_text_atomic
from schemas import to_spark
from schemas.variants import BUILT_ROWS, SHARD_ROWS, SPLITS

log = logging.getLogger(__name__)

PARAGRAPH_FIELDS = ["paragraph_id", "ordinal", "zone", "section_path", "text", "n_words", "language"]
ANNOTATION_FIELDS = ["document_type", "domain", "educational_score"]
ARTICLE_FIELDS = ["article_id", "title", "journal", "year", "license", "commercial", "retracted", "language",
                  "languages"]


class EmitError(UserError):
    """The run directory lacks what a recipe needs; the message says which stage to run."""


class ShardCheckError(RuntimeError):
    """The written shards fail a self-check (order, counts, files): a bug, never the user's."""


def variant_table(name: str) -> str:
    return f"variants/{name}"


INPUT_TABLES = ("articles", "paragraphs", "dedup", "dedup_articles", "annotations", "contamination")


def recipe_policy(recipe: Recipe, cfg: PipelineConfig) -> dict[str, Any]:
    """The recipe's options with the emit defaults filled in."""
    drop = cfg.emit.drop_contaminated if recipe.contamination is None else recipe.contamination == "drop"
    fraction = cfg.emit.validation_fraction if recipe.validation_fraction is None else recipe.validation_fraction
    return {"drop_contaminated": drop, "validation_fraction": fraction}


def _fingerprint(recipe: Recipe, cfg: PipelineConfig, tokenizer: str, run: RunDir | None = None) -> str:
    """What a variant's bytes depend on: the recipe, the emit settings, the tokenizer (name and file
    digest) and the ``_COMPLETE`` markers of the input tables (a re-run dedup or annotate re-emits)."""
    inputs = {t: run.marker(t) for t in INPUT_TABLES} if run is not None else {}
    payload = json.dumps({"recipe": recipe.model_dump(mode="json"), "seed": cfg.emit.seed,
                          "shard_bytes": cfg.emit.shard_bytes, "row_group_bytes": cfg.emit.row_group_bytes,
                          "drop_flagged_articles": cfg.emit.drop_flagged_articles,
                          "policy": recipe_policy(recipe, cfg),
                          "tokenizer": tokenizer, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- Spark side


def _paragraph_base(spark, run: RunDir, cfg: PipelineConfig, need_annotations: bool):
    """(one row per article: its metadata and the list of its non-duplicate, annotated paragraphs,
    each flagged ``contaminated`` or not; contamination figures)."""
    from pyspark.sql import functions as F

    for table in ("articles", "paragraphs"):
        if not run.is_complete(table):
            raise EmitError(f"{run.root}: table {table}/ is missing or incomplete; run `pmc-enrich ingest` first")
    paragraphs = read_table(spark, run, "paragraphs").select(*PARAGRAPH_FIELDS, "article_id")
    articles = read_table(spark, run, "articles")
    if "languages" not in articles.columns:  # a run ingested before article languages existed
        log.warning("articles/ has no `languages` column (ingested by an older version): using `language`; "
                    "re-ingest for reliable language rules")
        articles = articles.withColumn("languages", F.when(F.col("language").isNotNull(),
                                                           F.array(F.col("language"))))
    articles = articles.select(*ARTICLE_FIELDS)

    # Duplicates go first, before any filter or upsampling, so a duplicate is never repeated.
    if run.is_complete("dedup"):
        dups = (read_table(spark, run, "dedup").where(F.col("is_duplicate"))
                .select("paragraph_id").distinct())
        paragraphs = paragraphs.join(dups, "paragraph_id", "left_anti")
    elif cfg.emit.require_dedup and cfg.dedup.enabled:
        raise EmitError(f"{run.root}: dedup/ is missing or incomplete; run `pmc-enrich dedup` first "
                        "(or set emit.require_dedup=false to emit with duplicates)")
    else:
        log.warning("emitting WITHOUT deduplication: dedup/ is absent")
    # dedup_articles/ lists articles flagged as reprints/versions of another article (most of their
    # paragraphs are copies of its paragraphs): their leftovers are fragments, dropped as a whole.
    if cfg.emit.drop_flagged_articles and run.is_complete("dedup_articles"):
        flagged = read_table(spark, run, "dedup_articles").select("article_id").distinct()
        articles = articles.join(flagged, "article_id", "left_anti")
        paragraphs = paragraphs.join(flagged, "article_id", "left_anti")

    # Benchmark overlap (decontaminate's sidecar): flag, never drop here — each recipe decides.
    contamination: dict[str, Any] = {"table": "absent", "flagged_paragraphs": 0, "benchmarks": {}}
    if run.is_complete("contamination"):
        hits = read_table(spark, run, "contamination").select("paragraph_id", "benchmark")
        in_scope = hits.join(paragraphs.select("paragraph_id"), "paragraph_id", "left_semi")
        by_benchmark = in_scope.groupBy("benchmark").agg(F.countDistinct("paragraph_id").alias("n")).collect()
        flagged_ids = hits.select("paragraph_id").distinct().withColumn("contaminated", F.lit(True))
        paragraphs = paragraphs.join(flagged_ids, "paragraph_id", "left")
        contamination = {"table": "complete",
                         "flagged_paragraphs": in_scope.select("paragraph_id").distinct().count(),
                         "benchmarks": {r["benchmark"]: int(r["n"]) for r in sorted(by_benchmark, key=lambda r: r[0])}}
    paragraphs = paragraphs.withColumn("contaminated", F.coalesce(
        F.col("contaminated") if "contaminated" in paragraphs.columns else F.lit(None), F.lit(False)))

    if run.is_complete("annotations"):
        ann = read_table(spark, run, "annotations").select(
            "paragraph_id", F.col("document_type").cast("string"), F.col("domain").cast("string"),
            F.col("educational_score").cast("double"))
        paragraphs = paragraphs.join(ann, "paragraph_id", "left")
    elif need_annotations:
        raise EmitError(f"{run.root}: annotations/ is missing or incomplete and the recipe filters or "
                        "upsamples on labels; run `pmc-enrich annotate` first")
    else:
        paragraphs = (paragraphs.withColumn("document_type", F.lit(None).cast("string"))
                      .withColumn("domain", F.lit(None).cast("string"))
                      .withColumn("educational_score", F.lit(None).cast("double")))

    grouped = paragraphs.groupBy("article_id").agg(
        F.collect_list(F.struct(*PARAGRAPH_FIELDS, "contaminated", *ANNOTATION_FIELDS)).alias("paragraphs"))
    return articles.join(grouped, "article_id", "inner"), contamination


def _build_fn(recipe: Recipe, tokenizer: str, policy: dict[str, Any]):
    built_schema = BUILT_ROWS

    def build(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        counter = get_counter(tokenizer)
        for batch in batches:
            out: list[dict[str, Any]] = []
            for record in batch.to_pylist():
                paragraphs = record.pop("paragraphs") or []
                for row in build_rows(record, paragraphs, recipe, **policy):
                    row["unit_id"] = row.pop("id")
                    out.append(row)
            if not out:
                continue
            for row, n in zip(out, counter.count([r["text"] for r in out])):
                row["n_tokens"] = n
            yield pa.RecordBatch.from_pylist(out, schema=built_schema)

    return build


def _sorted_rows(built, seed: int, weights: bool):
    """Repeat rows (copies mode; a validation row is never repeated), name each row's shard group
    (``<split>/<part>[-x<factor>]``), then a deterministic global shuffle: sort by group and a
    seeded 64-bit hash of the row id (range partitioned: partition i holds a contiguous range)."""
    from pyspark.sql import functions as F

    train = F.col("part") == F.lit(TRAIN)
    copies = F.lit(1) if weights else F.when(train, F.col("upsample_factor").cast("int")).otherwise(F.lit(1))
    group = F.concat_ws("/", "split", "part")
    if weights:
        group = F.when(train, F.concat(group, F.lit("-x"), F.col("upsample_factor").cast("string"))).otherwise(group)
    rows = (built.withColumn("copy_index", F.explode(F.sequence(F.lit(0), copies - 1)))
            .withColumn("copy_index", F.col("copy_index").cast("short"))
            .withColumn("id", F.concat_ws("#", "unit_id", F.col("copy_index").cast("string")))
            .withColumn("_group", group)
            .withColumn("_key", F.xxhash64(F.lit(seed), F.col("id")))
            .drop("unit_id"))
    return rows, rows.orderBy("_group", "_key", "id")


STAT_KEYS = ("articles", "paragraphs", "unique_rows", "rows", "unique_tokens", "tokens", "upsampled_units")


def _group_stats(rows) -> dict[str, dict[str, int]]:
    """Counts per shard group, a Spark aggregation over the repeated rows (copy 0 of a row = the
    unique row): ``articles`` distinct article_id of copy-0 rows, ``paragraphs`` / ``unique_rows`` /
    ``unique_tokens`` / ``upsampled_units`` (factor > 1) over copy-0 rows, ``rows`` / ``tokens``
    over all copies. An article lies in one group only, so group counts add up to split counts.
    Independent of the shard writers, so it also reconciles their row counts."""
    from pyspark.sql import functions as F

    first = F.col("copy_index") == 0
    zero = F.lit(0)
    agg = (rows.where(F.col("split").isin(*SPLITS)).groupBy("_group").agg(
        F.countDistinct(F.when(first, F.col("article_id"))).alias("articles"),
        F.sum(F.when(first, F.col("n_paragraphs")).otherwise(zero)).alias("paragraphs"),
        F.sum(F.when(first, 1).otherwise(zero)).alias("unique_rows"),
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(first, F.col("n_tokens")).otherwise(zero)).alias("unique_tokens"),
        F.sum("n_tokens").alias("tokens"),
        F.sum(F.when(first & (F.col("upsample_factor") > 1), 1).otherwise(zero)).alias("upsampled_units"))
           .collect())
    return {r["_group"]: {k: int(r[k] or 0) for k in STAT_KEYS} for r in agg}


def _split_facets(rows) -> dict[str, dict[str, dict[str, int]]]:
    """Per split: articles by licence and by language (for the dataset card), in one aggregation."""
    from pyspark.sql import functions as F

    unique = rows.where((F.col("copy_index") == 0) & F.col("split").isin(*SPLITS))
    facets = (unique.select("split", F.lit("licenses").alias("facet"),
                            F.coalesce(F.col("license"), F.lit("unknown")).alias("value"), "article_id")
              .unionByName(unique.select("split", F.lit("languages").alias("facet"),
                                         F.explode("languages").alias("value"), "article_id")))
    out: dict[str, dict[str, dict[str, int]]] = {s: {"licenses": {}, "languages": {}} for s in SPLITS}
    for r in facets.groupBy("split", "facet", "value").agg(F.countDistinct("article_id").alias("n")).collect():
        out[r["split"]][r["facet"]][r["value"]] = int(r["n"])
    return out


def _write_shards(sorted_rows, variant_dir: Path, cfg: PipelineConfig,
                  required_groups: list[str]) -> dict[str, list[dict]]:
    """Each sorted partition → its own rolling shards per group, written by the executors straight
    into ``variant_dir`` (``<split>/<prefix>-<partition>-<k>.parquet``). Returns the shards per
    group in global order, after checking the order across partitions and the files on disk. A
    group in ``required_groups`` without rows gets one zero-row shard, so every reader (and every
    path of the dataset card) finds a file with the schema."""
    fn = partition_writer(str(variant_dir), SHARD_ROWS, cfg.emit.shard_bytes, cfg.emit.row_group_bytes)
    # mapInArrow runs on the output of the sort itself: every partition arrives in sorted order.
    infos = [r.asDict() for r in sorted_rows.mapInArrow(fn, to_spark(SHARD_INFOS)).collect()]
    errors = sorted(i["error"] for i in infos if i["error"])
    if errors:
        raise ShardCheckError(f"sorted rows out of order ({errors[0]}); refusing to write shards")
    shards: dict[str, list[dict]] = {}
    for group in sorted({i["group"] for i in infos} | set(required_groups)):
        mine = sorted((i for i in infos if i["group"] == group), key=lambda i: (i["partition"], i["shard"]))
        last, last_part = None, None
        for i in mine:  # partitions hold contiguous, increasing ranges of the sort order
            if i["partition"] != last_part:
                if last is not None and (i["first_key"], i["first_id"]) < last:
                    raise ShardCheckError(f"{group}: partition {i['partition']} starts before partition {last_part} "
                                    "ends; refusing to write shards")
                last, last_part = (i["last_key"], i["last_id"]), i["partition"]
        files = [ShardInfo(path=i["path"], rows=i["rows"], tokens=i["tokens"], bytes=i["bytes"],
                           sha256=i["sha256"]).as_dict() for i in mine]
        if not files:
            split, _, prefix = group.partition("/")
            empty = variant_dir / split / shard_name(prefix, 0, 0)
            write_empty_shard(empty, SHARD_ROWS)
            files = [ShardInfo(path=str(empty.relative_to(variant_dir)), rows=0, tokens=0,
                               bytes=empty.stat().st_size, sha256=sha256_file(empty)).as_dict()]
        shards[group] = files
    for split in SPLITS:
        folder = variant_dir / split
        # Leftovers of failed or speculative task attempts (hidden temporary names) go; any other
        # file the manifest does not list means something wrote behind our back.
        for p in folder.iterdir():
            if p.name.startswith(TMP_PREFIX):
                p.unlink(missing_ok=True)
        on_disk = sorted(p.name for p in folder.iterdir())
        listed = sorted(Path(f["path"]).name for g, fs in shards.items() if g.startswith(f"{split}/") for f in fs)
        if on_disk != listed:
            raise ShardCheckError(f"{split}: files on disk {on_disk} differ from the shards the tasks reported")
    return shards


def _write_other_formats(spark, variant_dir: Path, shards: dict[str, list[dict]], formats: list[str],
                         tokenizer: str, cfg: PipelineConfig) -> dict[str, list[dict]]:
    """JSONL.gz / datatrove / Megatron files of every Parquet shard, converted in parallel by Spark
    tasks (one shard each), same rows in the same order. Returns the files per group."""
    extra = [f for f in formats if f != "parquet"]
    if not extra:
        return {}
    if any(f in TOKENIZED_FORMATS for f in extra):
        get_tokenizer(tokenizer)  # fail on the driver, with a clear message, before any task runs
    paths = [s["path"] for files in shards.values() for s in files]
    root = str(variant_dir)

    def convert(path: str) -> list[dict]:
        tok = get_tokenizer(tokenizer) if any(f in TOKENIZED_FORMATS for f in extra) else None
        return write_formats(root, path, extra, tok)

    n = cfg.emit.format_partitions or max(1, len(paths))
    results = spark.sparkContext.parallelize(paths, min(n, len(paths))).map(convert).collect()
    out: dict[str, list[dict]] = {}
    for path, files in zip(paths, results):
        out.setdefault(group_of(path), []).extend(files)
    return out


# --------------------------------------------------------------------------- driver side


def _distinct(run: RunDir, table: str, column: str, where: str = "") -> list[str]:
    import duckdb

    glob = str(run.table(table) / "*.parquet")
    con = duckdb.connect()
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{glob}')").fetchall()]
        if column not in cols:
            return []
        cond = f"WHERE {where}" if where and where.split()[0] in cols else ""
        rows = con.execute(f"SELECT DISTINCT {column} FROM read_parquet('{glob}') {cond}").fetchall()
    finally:
        con.close()
    return sorted(str(r[0]) for r in rows if r[0] is not None)


def _versions(run: RunDir) -> dict[str, Any]:
    """Who labelled (LLM + prompt) and who annotated (student) the data behind the variant."""
    out: dict[str, Any] = {"labellers": [], "prompt_versions": [], "classifier_versions": [], "model_card": None}
    if run.is_complete("labels"):
        out["labellers"] = _distinct(run, "labels", "labeller", "status = 'ok'")
        out["prompt_versions"] = _distinct(run, "labels", "prompt_version", "status = 'ok'")
    if run.is_complete("annotations"):
        out["classifier_versions"] = _distinct(run, "annotations", "classifier_version")
    card = run.root / "model" / "model_card.json"
    if card.exists():
        try:
            data = json.loads(card.read_text())
            # Keep the card whole when small; otherwise only its top-level scalars.
            out["model_card"] = data if len(json.dumps(data)) < 20000 else {
                k: v for k, v in data.items() if isinstance(v, (str, int, float, bool))}
        except (OSError, ValueError) as exc:
            log.warning("unreadable %s: %s", card, exc)
    return out


def _split_summaries(groups: dict[str, dict[str, int]], shards: dict[str, list[dict]],
                     facets: dict[str, dict], weights: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per licence split: its counts (all groups), validation share, effective tokens, the groups
    with their sampling weights, and its Parquet shards in global order."""
    splits: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        mine = sorted(g for g in shards if g.startswith(f"{split}/"))
        stats = {g: groups.get(g, {k: 0 for k in STAT_KEYS}) for g in mine}
        entry: dict[str, Any] = {k: sum(s[k] for s in stats.values()) for k in STAT_KEYS}
        files = [f for g in mine for f in shards[g]]
        validation = [g for g in mine if parse_group(g)["part"] == VALIDATION]
        entry["validation_rows"] = sum(stats[g]["rows"] for g in validation)
        entry["validation_tokens"] = sum(stats[g]["tokens"] for g in validation)
        entry["effective_tokens"] = sum((parse_group(g)["factor"] or 1) * stats[g]["tokens"] for g in mine
                                        if g not in validation)
        entry["bytes"] = sum(f["bytes"] for f in files)
        entry["groups"] = {g: {**stats[g], "factor": parse_group(g)["factor"], "weight": weights.get(g),
                               "shards": len(shards[g])} for g in mine}
        entry.update(facets.get(split, {}))
        entry["shards"] = files
        splits[split] = entry
    return splits


def emit_variant(spark, run: RunDir, cfg: PipelineConfig, recipe: Recipe, base, recipe_source: str,
                 versions: dict[str, Any], contamination: dict[str, Any] | None = None) -> dict[str, Any]:
    counter = get_counter(cfg.emit.tokenizer)
    fingerprint = _fingerprint(recipe, cfg, tokenizer_digest(cfg.emit.tokenizer), run)
    policy = recipe_policy(recipe, cfg)
    weights_mode = recipe.upsample.mode == "weights"
    contamination = dict(contamination or {"table": "absent", "flagged_paragraphs": 0, "benchmarks": {}})
    contamination["policy"] = "drop" if policy["drop_contaminated"] else "keep"
    contamination["dropped_paragraphs"] = contamination["flagged_paragraphs"] if policy["drop_contaminated"] else 0
    tmp = run.tmp_path(variant_table(recipe.name))
    try:
        built = base.mapInArrow(_build_fn(recipe, cfg.emit.tokenizer, policy), to_spark(BUILT_ROWS)).persist()
        try:
            rows, sorted_rows = _sorted_rows(built, cfg.emit.seed, weights_mode)
            groups = _group_stats(rows)
            facets = _split_facets(rows)
            # An empty split still gets a zero-row train shard (readers see the schema); an empty
            # hold-out gets none (`datasets` would take a validation file without rows as a split).
            required = [group_name(split, TRAIN, 1 if weights_mode else None) for split in SPLITS
                        if not any(parse_group(g)["split"] == split and parse_group(g)["part"] == TRAIN
                                   for g in groups)]
            shards = _write_shards(sorted_rows, tmp, cfg, required)
        finally:
            built.unpersist()
        for group, files in shards.items():
            rows_written = sum(s["rows"] for s in files)
            if rows_written != groups.get(group, {}).get("rows", 0):  # the writers lost or invented rows
                raise ShardCheckError(f"{recipe.name}/{group}: wrote {rows_written} rows, counted "
                                f"{groups.get(group, {}).get('rows', 0)}")
        other = _write_other_formats(spark, tmp, shards, recipe.formats, cfg.emit.tokenizer, cfg)
        weights = group_weights({g: groups.get(g, {k: 0 for k in STAT_KEYS}) for g in shards})
        splits = _split_summaries(groups, shards, facets, weights)
        totals = {k: sum(splits[s][k] for s in SPLITS)
                  for k in ("articles", "paragraphs", "unique_rows", "rows", "unique_tokens", "tokens",
                            "effective_tokens", "validation_rows", "bytes")}
        all_files = {g: [{"format": "parquet", **f} for f in shards[g]] + other.get(g, []) for g in shards}
        manifest = {
            "variant": recipe.name,
            "recipe": recipe.model_dump(mode="json"),
            "recipe_source": recipe_source,
            "fingerprint": fingerprint,
            "source_run": str(run.root),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seed": cfg.emit.seed,
            "shard_bytes": cfg.emit.shard_bytes,
            "tokenizer": counter.name,
            "tokenizer_info": counter.describe(),
            "format": {"unit": recipe.format.unit, "columns": SHARD_ROWS.names, "compression": "zstd"},
            "formats": recipe.formats,
            "upsample_mode": recipe.upsample.mode,
            "validation_fraction": policy["validation_fraction"],
            "contamination": contamination,
            **versions,
            "splits": splits,
            "totals": totals,
            "files": {fmt: [f for g in sorted(other) for f in other[g] if f["format"] == fmt]
                      for fmt in recipe.formats if fmt != "parquet"},
        }
        write_json_atomic(tmp / "manifest.json", manifest)
        write_json_atomic(tmp / "mixture.json", mixture(recipe.name, recipe.upsample.mode,
                                                        {g: groups.get(g, {k: 0 for k in STAT_KEYS}) for g in shards},
                                                        recipe.formats, all_files))
        write_text_atomic(tmp / "README.md", render_card(manifest))
        run.publish(tmp, variant_table(recipe.name),
                    {"rows": totals["rows"], "recipe_fingerprint": fingerprint, "tokens": totals["tokens"]})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("emit %s: %d rows (%d unique), %d tokens, %d bytes", recipe.name, totals["rows"],
             totals["unique_rows"], totals["tokens"], totals["bytes"])
    return manifest


def _summary(manifest: dict[str, Any], skipped: bool) -> dict[str, Any]:
    return {"skipped": skipped, "fingerprint": manifest.get("fingerprint"), "totals": manifest["totals"],
            "splits": {s: {k: v for k, v in d.items() if k != "shards"} for s, d in manifest["splits"].items()},
            "tokenizer": manifest["tokenizer"], "upsample_mode": manifest.get("upsample_mode", "copies"),
            "formats": manifest.get("formats", ["parquet"]), "contamination": manifest.get("contamination")}


def read_manifest(run: RunDir, name: str) -> dict[str, Any] | None:
    path = run.table(variant_table(name)) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() and run.is_complete(variant_table(name)) else None


def _load_recipes(cfg: PipelineConfig, recipes: list[str] | None) -> list[tuple[Recipe, str]]:
    loaded = []
    for name in list(recipes or cfg.emit.recipes):
        path = resolve_recipe_path(name, cfg.emit.recipe_dirs)
        loaded.append((load_recipe(str(path)), str(path)))
    seen: dict[str, str] = {}
    for recipe, source in loaded:
        if recipe.name in seen:
            raise EmitError(f"two recipes are named {recipe.name!r}: {seen[recipe.name]} and {source}")
        seen[recipe.name] = source
    return loaded


def _is_fresh(run: RunDir, cfg: PipelineConfig, recipe: Recipe, counter_name: str) -> bool:
    marker = run.marker(variant_table(recipe.name))
    return (marker is not None and read_manifest(run, recipe.name) is not None
            and marker.get("recipe_fingerprint") == _fingerprint(recipe, cfg, counter_name, run))


def pending_recipes(run: RunDir, cfg: PipelineConfig, recipes: list[str] | None = None) -> list[str]:
    """Names of the recipes whose variant is missing, incomplete or built from another recipe/settings."""
    counter_name = tokenizer_digest(cfg.emit.tokenizer)
    return [r.name for r, _ in _load_recipes(cfg, recipes) if not _is_fresh(run, cfg, r, counter_name)]


def emit_recipes(spark, run: RunDir, cfg: PipelineConfig, recipes: list[str] | None = None,
                 overwrite: bool = False, progress: bool = False) -> dict:
    """Emit every recipe in ``recipes`` (default ``cfg.emit.recipes``); skip complete variants
    whose recipe/settings fingerprint is unchanged (a new recipe emits only itself). Returns the figures."""
    from pipeline.progress import progress as show_progress

    loaded = _load_recipes(cfg, recipes)
    for leftover in run.root.glob(".tmp-variants_*") if run.root.exists() else []:
        shutil.rmtree(leftover, ignore_errors=True)  # a killed emit's partial variant

    counter_name = tokenizer_digest(cfg.emit.tokenizer)
    todo, results = [], {}
    for recipe, source in loaded:
        if _is_fresh(run, cfg, recipe, counter_name) and not overwrite:
            log.info("emit %s: complete, skipped", recipe.name)
            results[recipe.name] = _summary(read_manifest(run, recipe.name), True)
        else:
            if run.is_complete(variant_table(recipe.name)) and not overwrite:
                log.info("emit %s: recipe or settings changed since the last emit; re-emitting", recipe.name)
            todo.append((recipe, source))

    if todo:
        need_ann = any(r.needs_annotations for r, _ in todo)
        base, contamination = _paragraph_base(spark, run, cfg, need_ann)
        base = base.persist()
        versions = _versions(run)
        try:
            with show_progress(len(todo), "recipe", "emit", mode=None if progress else "off") as bar:
                for recipe, source in todo:
                    manifest = emit_variant(spark, run, cfg, recipe, base, source, versions, contamination)
                    results[recipe.name] = _summary(manifest, False)
                    bar.update(1)
        finally:
            base.unpersist()
    return {"seed": cfg.emit.seed, "variants": results}


def build(ctx) -> dict:
    """Stage entry (pipeline.stage runner): it has already decided the stage must run."""
    return emit_recipes(ctx.spark, ctx.run, ctx.cfg, overwrite=ctx.overwrite, progress=ctx.progress)


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import submit_main

    submit_main("emit", argv)


if __name__ == "__main__":
    main()
