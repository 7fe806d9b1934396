"""Shards written per sorted partition on the executors (pipeline/emit/shards.py, jobs/emit.py):
the pure partition writer (naming, split straddling, order check) and a Spark emit forced onto
several sorted partitions with tiny shards (global order across files, no row lost or duplicated,
manifest checksums, per-split counts equal to a row-by-row recount)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.emit.shards import SHARD_INFOS, write_sorted_partition
from schemas.variants import SHARD_ROWS, SPLITS
from test_emit_fixtures import make_tiny_run, small_shards_config


def _rows(n: int, split_at: int) -> pa.Table:
    """n sorted rows: the first split_at commercial, the rest noncommercial, ~100 bytes of text each."""
    cols = {f.name: [] for f in SHARD_ROWS}
    split, key = [], []
    for i in range(n):
        s = "commercial" if i < split_at else "noncommercial"
        split.append(s)
        key.append(i * 7 - 1000)
        for f in SHARD_ROWS:
            cols[f.name].append({"id": f"A{i}#0", "text": f"row {i} " + "x" * 100, "article_id": f"A{i}",
                                 "commercial": s == "commercial", "n_paragraphs": 1, "n_tokens": 3,
                                 "upsample_factor": 1, "copy_index": 0}.get(f.name))
    table = pa.Table.from_pydict(cols, schema=SHARD_ROWS)
    group = [f"{x}/train" for x in split]
    return table.append_column("_group", pa.array(group)).append_column("_key", pa.array(key, pa.int64()))


def test_partition_writer_straddles_splits_and_rolls(tmp_path):
    table = _rows(40, 25)
    infos = write_sorted_partition(table.to_batches(max_chunksize=7), 3, tmp_path, SHARD_ROWS, 1500, 500)
    assert infos.schema.equals(SHARD_INFOS)
    got = infos.to_pylist()
    assert not any(i["error"] for i in got)
    for split, n in (("commercial", 25), ("noncommercial", 15)):
        mine = [i for i in got if i["group"] == f"{split}/train"]
        assert len(mine) > 1 and [i["shard"] for i in mine] == list(range(len(mine)))
        assert [i["path"] for i in mine] == [f"{split}/train-00003-{k:04d}.parquet" for k in range(len(mine))]
        assert sorted(p.name for p in (tmp_path / split).iterdir()) == [Path(i["path"]).name for i in mine]
        back = pa.concat_tables(pq.read_table(tmp_path / i["path"]) for i in mine)
        assert back.num_rows == n == sum(i["rows"] for i in mine)
        expect = table.filter(pc.equal(table["_group"], f"{split}/train")).select(SHARD_ROWS.names)
        assert back.equals(expect)
        for i in mine:
            data = (tmp_path / i["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == i["sha256"] and len(data) == i["bytes"]
        first, last = expect.slice(0, 1).to_pylist()[0], expect.slice(n - 1).to_pylist()[0]
        assert (mine[0]["first_id"], mine[0]["last_id"]) == (first["id"], last["id"])
    # same rows, other batch sizes: the same bytes
    again = write_sorted_partition(table.to_batches(max_chunksize=13), 3, tmp_path / "again", SHARD_ROWS,
                                   1500, 500)
    assert again.column("sha256").to_pylist() == infos.column("sha256").to_pylist()


def test_partition_writer_reports_disorder(tmp_path):
    table = _rows(20, 20)
    swapped = pa.concat_tables([table.slice(0, 10), table.slice(11, 1), table.slice(10, 1), table.slice(12)])
    infos = write_sorted_partition(swapped.to_batches(max_chunksize=4), 0, tmp_path, SHARD_ROWS, 1500, 500)
    assert infos.num_rows == 1 and "sorts before" in infos["error"][0].as_py()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".tmp")]
    # a batch starting before the previous batch's last row is caught too
    infos = write_sorted_partition([table.slice(5, 5).to_batches()[0], table.slice(0, 5).to_batches()[0]], 0,
                                   tmp_path / "b", SHARD_ROWS, 1500, 500)
    assert infos.num_rows == 1 and infos["error"][0].as_py()


def _recount(table: pa.Table) -> dict[str, int]:
    """The per-split counts as the former driver-side streaming computed them (_SplitStats)."""
    first = table.filter(pc.equal(table["copy_index"], 0))
    return {"articles": len(set(first["article_id"].to_pylist())),
            "paragraphs": int(pc.sum(first["n_paragraphs"]).as_py() or 0),
            "unique_rows": first.num_rows, "rows": table.num_rows,
            "unique_tokens": int(pc.sum(first["n_tokens"]).as_py() or 0),
            "tokens": int(pc.sum(table["n_tokens"]).as_py() or 0),
            "upsampled_units": int(pc.sum(pc.greater(first["upsample_factor"], 1)).as_py() or 0)}


@pytest.fixture(scope="module")
def multi_partition(spark, tmp_path_factory):
    """BE-All and the paragraph recipe emitted over 4 sorted partitions (AQE coalescing off) with
    tiny shards."""
    from jobs.emit import emit_recipes
    from test_emit_fixtures import PARAGRAPH_RECIPE

    base = tmp_path_factory.mktemp("multi")
    run = make_tiny_run(base / "run")
    recipe_file = base / "clinical-paragraphs.yaml"
    recipe_file.write_text(PARAGRAPH_RECIPE)
    key = "spark.sql.adaptive.coalescePartitions.enabled"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "false")
    try:
        cfg = small_shards_config()  # 1 KiB shards and row groups
        emit_recipes(spark, run, cfg, recipes=["BE-All", str(recipe_file)])
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)
    return run, cfg, {"BE-All": "BE-All", "Clinical-Paragraphs": str(recipe_file)}


def _built_counts(spark, run, cfg, recipe_name: str) -> dict[str, int]:
    """A plain Spark count of the built rows (× upsample factor) per split."""
    from pyspark.sql import functions as F

    from jobs.emit import _build_fn, _load_recipes, _paragraph_base, recipe_policy
    from schemas import to_spark
    from schemas.variants import BUILT_ROWS

    recipe = next(r for r, _ in _load_recipes(cfg, [recipe_name]))
    base, _ = _paragraph_base(spark, run, cfg, recipe.needs_annotations)
    built = base.mapInArrow(_build_fn(recipe, cfg.emit.tokenizer, recipe_policy(recipe, cfg)), to_spark(BUILT_ROWS))
    return {r["split"]: int(r["n"]) for r in built.groupBy("split").agg(F.sum("upsample_factor").alias("n")).collect()}


@pytest.mark.parametrize("variant", ["BE-All", "Clinical-Paragraphs"])
def test_several_partitions_global_order_counts_and_checksums(spark, multi_partition, variant):
    from pyspark.sql import functions as F

    run, cfg, recipes = multi_partition
    folder = run.table(f"variants/{variant}")
    m = json.loads((folder / "manifest.json").read_text())
    expected = _built_counts(spark, run, cfg, recipes[variant])
    partitions = set()
    for split in SPLITS:
        info = m["splits"][split]
        files = sorted((folder / split).glob("*.parquet"))
        assert [f.name for f in files] == [Path(s["path"]).name for s in info["shards"]]  # name order = manifest
        assert not [p for p in (folder / split).iterdir() if not p.name.endswith(".parquet")]
        assert all(f.name.startswith("train-") for f in files)  # the Hub's split naming
        for shard in info["shards"]:
            data = (folder / shard["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == shard["sha256"] and len(data) == shard["bytes"]
            assert pq.read_metadata(folder / shard["path"]).num_rows == shard["rows"]
            partitions.add(int(Path(shard["path"]).name.split("-")[-2]))
        table = pa.concat_tables(pq.read_table(f) for f in files)
        assert table.schema.equals(SHARD_ROWS)
        ids = table["id"].to_pylist()
        assert len(ids) == len(set(ids)) == expected.get(split, 0) == info["rows"]  # none lost, none doubled
        # global order over all files of the split, read in file-name order
        keyed = spark.createDataFrame([(i, x) for i, x in enumerate(ids)], "pos long, id string").select(
            "pos", "id", F.xxhash64(F.lit(cfg.emit.seed), F.col("id")).alias("_key"))
        keys = [(r["_key"], r["id"]) for r in keyed.orderBy("pos").collect()]
        assert keys == sorted(keys)
        assert {k: info[k] for k in _recount(table)} == _recount(table)
    assert len(partitions) > 1  # the shards really came from several sorted partitions
    assert m["totals"]["rows"] == sum(expected.values())
