"""Annotate every paragraph of a run with a trained student → the `annotations/` sidecar.

The student's folder is shipped with the job (zipped, ``addArchive``: works on every master) and loaded once
per Python worker (a module-level cache; workers are reused across tasks), never per row or batch.
Scoring runs over Arrow record batches (``mapInArrow``). Output is sorted by paragraph_id: the same
paragraphs and model give the same rows; the table appears atomically (skip and redo: the stage runner).

    spark-submit jobs/annotate.py RUN_DIR [--model DIR] [--student NAME]
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator

import pyarrow as pa

from classifiers.io import context_from_columns, prediction_arrays
from classifiers.students import resolve_student_dir, student_card
from pipeline.config import PipelineConfig
from pipeline.rundir import RunDir, read_table, write_spark_table
from schemas import to_spark
from schemas.annotations import ANNOTATIONS

log = logging.getLogger(__name__)

STAGE = "annotate"
TABLE = "annotations"

# Executor side: the loaded student, keyed by classifier_version (one model per worker process).
_STUDENTS: dict[str, object] = {}


def _executor_student(version: str, shipped_name: str, device: str, tokenizer_workers: int | None = None):
    student = _STUDENTS.get(version)
    if student is None:
        from classifiers.students import load_student
        from jobs._submit import shipped_directory

        _STUDENTS.clear()  # one model per worker: a new version replaces the old one
        student = _STUDENTS[version] = load_student(shipped_directory(shipped_name), device=device)
        if hasattr(student, "tokenizer_workers"):  # transformer: processes that tokenise for it
            if tokenizer_workers is None:
                # Auto on an executor: the task's own CPUs (spark.task.cpus), never the whole host's
                # cores, which every concurrent Python worker would otherwise claim.
                from pyspark import TaskContext

                from classifiers.token_ids import auto_workers

                ctx = TaskContext.get()
                tokenizer_workers = auto_workers(device.startswith("cuda"), ctx.cpus() if ctx is not None else 1)
            student.tokenizer_workers = tokenizer_workers
    return student


def score_batches(batches: Iterator[pa.RecordBatch], version: str, shipped_name: str,
                  device: str, tokenizer_workers: int | None = None) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: paragraph batches in, annotation batches out (ANNOTATIONS schema)."""
    student = _executor_student(version, shipped_name, device, tokenizer_workers)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        data = batch.to_pydict()
        preds = student.predict(data["text"], context_from_columns(data))
        cols = prediction_arrays(preds)
        cols["paragraph_id"] = batch.column(batch.schema.get_field_index("paragraph_id"))
        cols["classifier_version"] = pa.array([version] * batch.num_rows, pa.string())
        yield pa.RecordBatch.from_arrays([cols[f.name] for f in ANNOTATIONS], schema=ANNOTATIONS)


def annotate_paragraphs(spark, run: RunDir, cfg: PipelineConfig, model: str | None = None,
                        student: str | None = None, meta: dict | None = None) -> dict:
    """Score every paragraph with the chosen student, publish ``annotations/`` and return the figures."""
    from pyspark.sql import functions as F

    ac = cfg.annotate
    # No student named: the card's annotator for this hardware (annotate.device cuda → its GPU pick,
    # else the best CPU-speed student), see classifiers.training.pick_annotators.
    student_dir = resolve_student_dir(model or ac.model or run.table("model"), student or ac.student, ac.device)
    card = student_card(student_dir)
    version = card["version"]
    paras = read_table(spark, run, "paragraphs")
    # The row count the paragraphs' marker carries (read from the Parquet footers when it was
    # written): no Spark job to count what is already counted.
    n_paragraphs = (run.marker("paragraphs") or {}).get("rows")
    if n_paragraphs is None:
        n_paragraphs = paras.count()
    cols = ["paragraph_id", "text"]
    use = set(card.get("context_features", []))
    if "zone" in use:
        cols.append("zone")
    if "section" in use:
        cols.append("section_path")
    df = paras.select(*cols, *(["article_id"] if "article_type" in use else []))
    if "article_type" in use and run.is_complete("articles"):
        arts = read_table(spark, run, "articles").select("article_id", "article_type")
        df = df.join(F.broadcast(arts), "article_id", "left").drop("article_id")
    elif "article_type" in use:
        df = df.drop("article_id")

    from jobs._submit import ship_directory

    shipped = ship_directory(spark, student_dir, version)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ac.batch_size))
    scorer = functools.partial(score_batches, version=version, shipped_name=shipped, device=ac.device,
                               tokenizer_workers=ac.tokenizer_workers)
    out = df.mapInArrow(scorer, to_spark(ANNOTATIONS))
    t0 = time.time()
    partitions = max(1, spark.sparkContext.defaultParallelism)
    write_spark_table(out, run, TABLE, meta={**(meta or {}), "classifier_version": version,
                                             "student": card.get("student")},
                      partitions=partitions, sort_by=["paragraph_id"])
    seconds = time.time() - t0
    # One aggregation pass over the written table: row count, score summary, class counts.
    from classifiers.heads import DOCUMENT_TYPE, DOMAIN

    written = read_table(spark, run, TABLE)
    aggs = [F.count("*").alias("rows"), F.avg("educational_score").alias("mean_score"),
            F.avg((F.col("educational_score") >= 3).cast("double")).alias("keep_share")]
    aggs += [F.sum((F.col(h.name) == c).cast("long")).alias(f"{h.name}:{c}")
             for h in (DOCUMENT_TYPE, DOMAIN) for c in h.classes]
    stats = written.agg(*aggs).first().asDict()
    counts = {h.name: {c: int(stats[f"{h.name}:{c}"] or 0) for c in h.classes} for h in (DOCUMENT_TYPE, DOMAIN)}
    if stats["rows"] != n_paragraphs:
        raise RuntimeError(f"annotations has {stats['rows']} rows for {n_paragraphs} paragraphs")
    return {
        "student_dir": str(student_dir), "student": card.get("student"),
        "classifier_version": version, "paragraphs": n_paragraphs, "rows": stats["rows"],
        "seconds": round(seconds, 2), "paragraphs_per_s": round(n_paragraphs / seconds, 1) if seconds else None,
        "mean_educational_score": stats["mean_score"], "keep_share_at_3": stats["keep_share"], "counts": counts,
        "context_features": sorted(use), "partitions": partitions,
    }


def build(ctx) -> dict:
    """Stage entry (pipeline.stage runner): it has already decided the stage must run."""
    return annotate_paragraphs(ctx.spark, ctx.run, ctx.cfg, meta=ctx.meta())


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import submit_main

    submit_main("annotate", argv)


if __name__ == "__main__":
    main()
