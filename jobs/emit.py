"""Emit: deduplicated, annotated paragraphs → pretraining shards, one variant per recipe.

    spark-submit jobs/emit.py RUN_DIR --recipe BE-All [--config FILE]

Spark gathers each article's non-duplicate paragraphs (with their annotations), applies the recipe
(pure Python, ``pipeline.emit.build_rows``) and counts tokens on the executors, repeats rows by
their upsample factor and sorts them globally by ``(split, xxhash64(seed, id), id)`` (a
deterministic global shuffle, range partitioned). The shards are written by the executors, in the
same pass as the sort: ``mapInArrow`` runs directly on the sort's output, so each task sees its
partition — a contiguous range of the global order — in order, and writes it into rolling zstd
Parquet shards, one :class:`~pipeline.emit.shards.ShardWriter` per licence split, straight into the
variant's temporary folder (``<split>/part-<partition:05d>-<k:04d>.parquet``: file-name order is
the global order). Tasks return one small row per shard (path, rows, tokens, bytes, sha256) and
the sort keys of their first/last row. The driver checks the order across partitions, reconciles
the rows written with per-split counts from a separate Spark aggregation, writes ``manifest.json``
and publishes the whole variant folder atomically; any failure removes the temporary folder.
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
import pyarrow.parquet as pq

from pipeline.config import PipelineConfig
from pipeline.emit.recipe import Recipe, load_recipe, resolve_recipe_path
from pipeline.emit.rows import build_rows
from pipeline.emit.shards import SHARD_INFOS, TMP_PREFIX, ShardInfo, partition_writer, sha256_file, shard_name
from pipeline.emit.tokens import get_counter
from pipeline.rundir import RunDir, write_json_atomic
from schemas import to_spark
from schemas.variants import BUILT_ROWS, SHARD_ROWS, SPLITS

log = logging.getLogger(__name__)

PARAGRAPH_FIELDS = ["paragraph_id", "ordinal", "zone", "section_path", "text", "n_words", "language"]
ANNOTATION_FIELDS = ["document_type", "domain", "educational_score"]
ARTICLE_FIELDS = ["article_id", "title", "journal", "year", "license", "commercial", "retracted", "language"]


class EmitError(RuntimeError):
    """The run directory lacks what a recipe needs; the message says which stage to run."""


def variant_table(name: str) -> str:
    return f"variants/{name}"


INPUT_TABLES = ("articles", "paragraphs", "dedup", "dedup_articles", "annotations")


def _fingerprint(recipe: Recipe, cfg: PipelineConfig, tokenizer: str, run: RunDir | None = None) -> str:
    """What a variant's bytes depend on: the recipe, the emit settings, the tokenizer and the
    ``_COMPLETE`` markers of the input tables (a re-run dedup or annotate re-emits)."""
    inputs = {t: run.marker(t) for t in INPUT_TABLES} if run is not None else {}
    payload = json.dumps({"recipe": recipe.model_dump(mode="json"), "seed": cfg.emit.seed,
                          "shard_bytes": cfg.emit.shard_bytes, "row_group_bytes": cfg.emit.row_group_bytes,
                          "drop_flagged_articles": cfg.emit.drop_flagged_articles,
                          "tokenizer": tokenizer, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- Spark side


def _paragraph_base(spark, run: RunDir, cfg: PipelineConfig, need_annotations: bool):
    """One row per article: its metadata and the list of its non-duplicate, annotated paragraphs."""
    from pyspark.sql import functions as F

    for table in ("articles", "paragraphs"):
        if not run.is_complete(table):
            raise EmitError(f"{run.root}: table {table}/ is missing or incomplete; run `pmc-enrich ingest` first")
    paragraphs = spark.read.parquet(str(run.table("paragraphs"))).select(*PARAGRAPH_FIELDS, "article_id")
    articles = spark.read.parquet(str(run.table("articles"))).select(*ARTICLE_FIELDS)

    # Duplicates go first, before any filter or upsampling, so a duplicate is never repeated.
    if run.is_complete("dedup"):
        dups = (spark.read.parquet(str(run.table("dedup"))).where(F.col("is_duplicate"))
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
        flagged = spark.read.parquet(str(run.table("dedup_articles")))
        if "is_duplicate" in flagged.columns:  # tolerate a boolean-flag layout too
            flagged = flagged.where(F.col("is_duplicate"))
        flagged = flagged.select("article_id").distinct()
        articles = articles.join(flagged, "article_id", "left_anti")
        paragraphs = paragraphs.join(flagged, "article_id", "left_anti")

    if run.is_complete("annotations"):
        ann = spark.read.parquet(str(run.table("annotations"))).select(
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
        F.collect_list(F.struct(*PARAGRAPH_FIELDS, *ANNOTATION_FIELDS)).alias("paragraphs"))
    return articles.join(grouped, "article_id", "inner")


def _build_fn(recipe: Recipe, tokenizer: str):
    built_schema = BUILT_ROWS

    def build(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        counter = get_counter(tokenizer)
        for batch in batches:
            out: list[dict[str, Any]] = []
            for record in batch.to_pylist():
                paragraphs = record.pop("paragraphs") or []
                for row in build_rows(record, paragraphs, recipe):
                    row["unit_id"] = row.pop("id")
                    out.append(row)
            if not out:
                continue
            for row, n in zip(out, counter.count([r["text"] for r in out])):
                row["n_tokens"] = n
            yield pa.RecordBatch.from_pylist(out, schema=built_schema)

    return build


def _sorted_rows(built, seed: int):
    """Repeat rows, then a deterministic global shuffle: sort by a seeded 64-bit hash of the row id
    (range partitioned: partition i holds a contiguous range of the global order)."""
    from pyspark.sql import functions as F

    rows = (built.withColumn("copy_index", F.explode(F.sequence(F.lit(0), F.col("upsample_factor").cast("int") - 1)))
            .withColumn("copy_index", F.col("copy_index").cast("short"))
            .withColumn("id", F.concat_ws("#", "unit_id", F.col("copy_index").cast("string")))
            .withColumn("_key", F.xxhash64(F.lit(seed), F.col("id")))
            .drop("unit_id"))
    return rows, rows.orderBy("split", "_key", "id")


STAT_KEYS = ("articles", "paragraphs", "unique_rows", "rows", "unique_tokens", "tokens", "upsampled_units")


def _split_stats(rows) -> dict[str, dict[str, int]]:
    """Counts per split, a Spark aggregation over the repeated rows (copy 0 of a row = the unique
    row): ``articles`` distinct article_id of copy-0 rows, ``paragraphs`` / ``unique_rows`` /
    ``unique_tokens`` / ``upsampled_units`` (factor > 1) over copy-0 rows, ``rows`` / ``tokens``
    over all copies. Independent of the shard writers, so it also reconciles their row counts."""
    from pyspark.sql import functions as F

    first = F.col("copy_index") == 0
    zero = F.lit(0)
    agg = (rows.where(F.col("split").isin(*SPLITS)).groupBy("split").agg(
        F.countDistinct(F.when(first, F.col("article_id"))).alias("articles"),
        F.sum(F.when(first, F.col("n_paragraphs")).otherwise(zero)).alias("paragraphs"),
        F.sum(F.when(first, 1).otherwise(zero)).alias("unique_rows"),
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(first, F.col("n_tokens")).otherwise(zero)).alias("unique_tokens"),
        F.sum("n_tokens").alias("tokens"),
        F.sum(F.when(first & (F.col("upsample_factor") > 1), 1).otherwise(zero)).alias("upsampled_units"))
           .collect())
    out = {s: {k: 0 for k in STAT_KEYS} for s in SPLITS}
    for r in agg:
        out[r["split"]] = {k: int(r[k] or 0) for k in STAT_KEYS}
    return out


def _write_shards(sorted_rows, variant_dir: Path, cfg: PipelineConfig) -> dict[str, list[dict]]:
    """Each sorted partition → its own rolling shards per split, written by the executors straight
    into ``variant_dir`` (``<split>/part-<partition>-<k>.parquet``). Returns the shards per split in
    global order, after checking the order across partitions and the files on disk."""
    fn = partition_writer(str(variant_dir), SPLITS, SHARD_ROWS, cfg.emit.shard_bytes, cfg.emit.row_group_bytes)
    # mapInArrow runs on the output of the sort itself: every partition arrives in sorted order.
    infos = [r.asDict() for r in sorted_rows.mapInArrow(fn, to_spark(SHARD_INFOS)).collect()]
    errors = sorted(i["error"] for i in infos if i["error"])
    if errors:
        raise EmitError(f"sorted rows out of order ({errors[0]}); refusing to write shards")
    shards: dict[str, list[dict]] = {}
    for split in SPLITS:
        mine = sorted((i for i in infos if i["split"] == split), key=lambda i: (i["partition"], i["shard"]))
        last, last_part = None, None
        for i in mine:  # partitions hold contiguous, increasing ranges of the sort order
            if i["partition"] != last_part:
                if last is not None and (i["first_key"], i["first_id"]) < last:
                    raise EmitError(f"{split}: partition {i['partition']} starts before partition {last_part} "
                                    "ends; refusing to write shards")
                last, last_part = (i["last_key"], i["last_id"]), i["partition"]
        files = [ShardInfo(path=i["path"], rows=i["rows"], tokens=i["tokens"], bytes=i["bytes"],
                           sha256=i["sha256"]).as_dict() for i in mine]
        if not files:  # an empty split still gets a zero-row shard, so every reader sees the schema
            empty = variant_dir / split / shard_name(0, 0)
            empty.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(SHARD_ROWS.empty_table(), empty, compression="zstd")
            files = [ShardInfo(path=str(empty.relative_to(variant_dir)), rows=0, tokens=0,
                               bytes=empty.stat().st_size, sha256=sha256_file(empty)).as_dict()]
        # Leftovers of failed or speculative task attempts (hidden temporary names) go; any other
        # file the manifest does not list means something wrote behind our back.
        for p in (variant_dir / split).iterdir():
            if p.name.startswith(TMP_PREFIX):
                p.unlink(missing_ok=True)
        on_disk = sorted(p.name for p in (variant_dir / split).iterdir())
        if on_disk != sorted(Path(f["path"]).name for f in files):
            raise EmitError(f"{split}: files on disk {on_disk} differ from the shards the tasks reported")
        shards[split] = files
    return shards


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


def emit_variant(spark, run: RunDir, cfg: PipelineConfig, recipe: Recipe, base, recipe_source: str,
                 versions: dict[str, Any]) -> dict[str, Any]:
    counter = get_counter(cfg.emit.tokenizer)
    fingerprint = _fingerprint(recipe, cfg, counter.name, run)
    tmp = run.tmp_path(variant_table(recipe.name))
    try:
        built = base.mapInArrow(_build_fn(recipe, cfg.emit.tokenizer), to_spark(BUILT_ROWS)).persist()
        try:
            rows, sorted_rows = _sorted_rows(built, cfg.emit.seed)
            counts = _split_stats(rows)
            shards = _write_shards(sorted_rows, tmp, cfg)
        finally:
            built.unpersist()
        splits = {}
        for split in SPLITS:
            files = shards[split]
            rows_written = sum(s["rows"] for s in files)
            if rows_written != counts[split]["rows"]:  # the shard writers lost or invented rows: never publish
                raise EmitError(f"{recipe.name}/{split}: wrote {rows_written} rows, counted {counts[split]['rows']}")
            splits[split] = {**counts[split], "bytes": sum(s["bytes"] for s in files), "shards": files}
        totals = {k: sum(splits[s][k] for s in SPLITS)
                  for k in ("articles", "paragraphs", "unique_rows", "rows", "unique_tokens", "tokens", "bytes")}
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
            "format": {"unit": recipe.format.unit, "columns": SHARD_ROWS.names, "compression": "zstd"},
            **versions,
            "splits": splits,
            "totals": totals,
        }
        write_json_atomic(tmp / "manifest.json", manifest)
        run.publish(tmp, variant_table(recipe.name),
                    {"rows": totals["rows"], "fingerprint": fingerprint, "tokens": totals["tokens"]})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("emit %s: %d rows (%d unique), %d tokens, %d bytes", recipe.name, totals["rows"],
             totals["unique_rows"], totals["tokens"], totals["bytes"])
    return manifest


def _summary(manifest: dict[str, Any], skipped: bool) -> dict[str, Any]:
    return {"skipped": skipped, "fingerprint": manifest.get("fingerprint"), "totals": manifest["totals"],
            "splits": {s: {k: v for k, v in d.items() if k != "shards"} for s, d in manifest["splits"].items()},
            "tokenizer": manifest["tokenizer"]}


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
            and marker.get("fingerprint") == _fingerprint(recipe, cfg, counter_name, run))


def pending_recipes(run: RunDir, cfg: PipelineConfig, recipes: list[str] | None = None) -> list[str]:
    """Names of the recipes whose variant is missing, incomplete or built from another recipe/settings."""
    counter_name = get_counter(cfg.emit.tokenizer).name
    return [r.name for r, _ in _load_recipes(cfg, recipes) if not _is_fresh(run, cfg, r, counter_name)]


def run_emit(spark, run: RunDir, cfg: PipelineConfig, recipes: list[str] | None = None,
             overwrite: bool | None = None, **_: Any) -> dict:
    """Emit every recipe in ``recipes`` (default ``cfg.emit.recipes``); skip complete variants
    whose recipe/settings fingerprint is unchanged. Writes and returns ``reports/emit.json``."""
    overwrite = cfg.emit.overwrite if overwrite is None else overwrite
    loaded = _load_recipes(cfg, recipes)
    for leftover in run.root.glob(".tmp-variants_*") if run.root.exists() else []:
        shutil.rmtree(leftover, ignore_errors=True)  # a killed emit's partial variant

    counter_name = get_counter(cfg.emit.tokenizer).name
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
        base = _paragraph_base(spark, run, cfg, need_ann).persist()
        versions = _versions(run)
        try:
            for recipe, source in todo:
                manifest = emit_variant(spark, run, cfg, recipe, base, source, versions)
                results[recipe.name] = _summary(manifest, False)
        finally:
            base.unpersist()

    report = {"stage": "emit", "run": str(run.root), "seed": cfg.emit.seed, "variants": results}
    write_json_atomic(run.report("emit"), report)
    return report


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import stage_parser, submit

    parser = stage_parser("Emit pretraining shards for one or more recipes.")
    parser.add_argument("--recipe", action="append", help="recipe name or YAML path (repeatable)")
    args = parser.parse_args(argv)
    submit("emit", args, recipes=args.recipe, overwrite=args.overwrite or None)


if __name__ == "__main__":
    main()
