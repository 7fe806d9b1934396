"""Spark's keep order (``jobs/dedup.py: keep_key``, a struct whose minimum is kept) equals the Python
keep order (``pipeline/dedup/keep.py: keep_sort_key``) on the same rows: hand-made rows that hit
every tie-break and every missing value, and the ingested sample's real paragraphs."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow.parquet as pq
from pyspark.sql import functions as F

from jobs.dedup import keep_key
from pipeline.dedup.keep import keep_sort_key

SCHEMA = ("paragraph_id string, article_id string, ordinal int, commercial boolean, year int, "
          "last_updated timestamp, exact_hash string, grp string")


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def _row(article_id: str, ordinal: int, commercial, year, updated, grp: str = "g") -> dict:
    return {"paragraph_id": f"{article_id}:{ordinal:05d}", "article_id": article_id, "ordinal": ordinal,
            "commercial": commercial, "year": year, "last_updated": updated, "exact_hash": f"h-{article_id}",
            "grp": grp}


EDGE_ROWS = [
    # commercial first, and a missing licence (no articles/ row) counts as non-commercial
    _row("PMC9", 1, False, 2001, _utc(2020, 1, 1)),
    _row("PMC8", 0, None, 2001, _utc(2020, 1, 1)),
    _row("PMC5", 4, True, 2015, _utc(2020, 1, 1)),
    # same year: last_updated decides, to the microsecond; before 1970 too; missing sorts last
    _row("PMC7", 2, True, 2012, _utc(2019, 5, 1, 0, 0, 0, 2)),
    _row("PMC70", 2, True, 2012, _utc(2019, 5, 1, 0, 0, 0, 1)),
    _row("PMC71", 0, True, 2012, _utc(1969, 12, 31, 23, 59, 59)),
    _row("PMC72", 0, True, 2012, None),
    # same article: lowest ordinal; ids compare as strings ("PMC10" < "PMC6")
    _row("PMC6", 3, True, 2012, _utc(2019, 5, 1)),
    _row("PMC6", 1, True, 2012, _utc(2019, 5, 1)),
    _row("PMC10", 7, True, 2012, _utc(2019, 5, 1)),
    # missing year sorts after every real year, whatever last_updated says
    _row("PMC1", 0, True, None, None),
    _row("PMC2", 0, True, None, _utc(2000, 1, 1)),
    # non-ASCII ids: code-point order in both (not Java's UTF-16 order, where U+FF5E > U+1F600)
    _row("doi:10.1/\uff5e", 0, False, None, None),
    _row("doi:10.1/\U0001f600", 0, False, None, None),
    _row("doi:10.1/\u00e9", 0, False, None, None),
    _row("doi:10.1/z", 0, False, None, None),
]


def _spark_order(df) -> list[str]:
    return [r.paragraph_id for r in df.withColumn("key", keep_key()).orderBy("key").select("paragraph_id").collect()]


def _spark_kept(df, group: str) -> dict[str, str]:
    """What dedup keeps per group: the minimum of the key struct (as ``run_dedup`` does)."""
    kept = df.withColumn("key", keep_key()).groupBy(group).agg(F.min("key").alias("k")).collect()
    return {r[group]: r.k.k_paragraph_id for r in kept}


def _python_kept(rows: list[dict], group: str) -> dict[str, str]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[group], []).append(row)
    return {g: min(members, key=keep_sort_key)["paragraph_id"] for g, members in groups.items()}


def test_keep_order_agrees_on_every_tie_break(spark):
    df = spark.createDataFrame(EDGE_ROWS, SCHEMA)
    python = [r["paragraph_id"] for r in sorted(EDGE_ROWS, key=keep_sort_key)]
    assert _spark_order(df) == python
    assert python[:4] == ["PMC71:00000", "PMC10:00007", "PMC6:00001", "PMC6:00003"]  # the rule as documented
    assert python[-4:] == ["doi:10.1/z:00000", "doi:10.1/\u00e9:00000", "doi:10.1/\uff5e:00000",
                           "doi:10.1/\U0001f600:00000"]
    # every pair of rows as a duplicate group of two: the same one is kept
    pairs = [dict(row, grp=f"{i}-{j}") for i in range(len(EDGE_ROWS)) for j in range(i + 1, len(EDGE_ROWS))
             for row in (EDGE_ROWS[i], EDGE_ROWS[j])]
    assert _spark_kept(spark.createDataFrame(pairs, SCHEMA), "grp") == _python_kept(pairs, "grp")


def test_keep_order_agrees_on_the_sample(spark, ingested_run):
    """The real paragraphs and article metadata, joined the way ``run_dedup`` joins them."""
    articles_dir, paragraphs_dir = ingested_run.table("articles"), ingested_run.table("paragraphs")
    columns = ["article_id", "commercial", "year", "last_updated"]
    meta = {r["article_id"]: r for r in pq.read_table(articles_dir, columns=columns).to_pylist()}
    rows = [{**meta.get(p["article_id"], {}), **p, "exact_hash": p["paragraph_id"]}
            for p in pq.read_table(paragraphs_dir, columns=["paragraph_id", "article_id", "ordinal"]).to_pylist()]
    assert len(rows) > 5000 and len({r["year"] for r in rows}) > 5

    articles = spark.read.parquet(str(articles_dir)).select(
        "article_id", "commercial", "year", F.col("last_updated").cast("timestamp").alias("last_updated"))
    df = (spark.read.parquet(str(paragraphs_dir)).select("paragraph_id", "article_id", "ordinal")
          .join(articles, "article_id", "left").withColumn("exact_hash", F.col("paragraph_id")))
    assert _spark_order(df) == [r["paragraph_id"] for r in sorted(rows, key=keep_sort_key)]
    # Duplicate groups that cut across articles, licences and years: paragraphs by ordinal.
    df = df.withColumn("grp", F.col("ordinal").cast("string"))
    for row in rows:
        row["grp"] = str(row["ordinal"])
    assert _spark_kept(df, "grp") == _python_kept(rows, "grp")
