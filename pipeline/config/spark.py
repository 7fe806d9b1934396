"""Spark session settings shared by every stage."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SparkConfig(BaseModel):
    """How the Spark session is built.

    ``master`` None means: respect what spark-submit set, else ``local[*]``.
    """

    master: str | None = None
    app_name: str = "pmc-enrich"
    driver_memory: str = "4g"
    shuffle_partitions: int = Field(8, ge=1, description="spark.sql.shuffle.partitions")
    log_level: str = "WARN"
    show_progress: bool = False  # Spark's own console bar; the stages show theirs (pipeline.progress)
    # The driver JVM compiles with C1 only (-XX:TieredStopAtLevel=1, 240 MB code cache): it warms up
    # faster and its compiler threads take less of the cores the tasks need. Measured faster or even
    # at every local size tried, up to 1M paragraphs on one core (docs/scaling.md §2.4-2.5). Only the
    # JVM `pmc-enrich` launches for a local run is concerned; under spark-submit it does nothing.
    quick_jit: bool = True
    # Map the class archive `pmc-enrich jvm-cache` built on this machine, when there is one: the
    # local driver starts ~3 s sooner and its first jobs ~1.5 s sooner (pipeline/jvm_cache.py).
    class_cache: bool = True
    extra_conf: dict[str, str] = Field(default_factory=dict)
