"""Seconds and Spark jobs per stage, each stage redone in one shared Spark session.

    python benchmarks/stage_times.py --out /tmp/st ingest dedup emit
    python benchmarks/stage_times.py --out /tmp/st --conf spark.sql.adaptive.enabled=false dedup emit

Runs the bundled demo config (``configs/sample.yaml``) into ``--out`` (every stage the named ones
need must already be there, or be named first), with ``--overwrite`` semantics for the named
stages. The job count is the number of Spark jobs the stage started (the status tracker's count
before and after): what each small-input stage pays in scheduling, independent of the machine's load.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.logs import setup_logging  # noqa: E402
from pipeline.run_stages import load_run_config, run_pipeline  # noqa: E402
from pipeline.spark import get_spark  # noqa: E402

log = logging.getLogger("bench.stage_times")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stages", nargs="+")
    ap.add_argument("--config", default="configs/sample.yaml")
    ap.add_argument("--out", required=True, help="run directory")
    ap.add_argument("--conf", action="append", default=[], help="extra Spark setting KEY=VALUE")
    args = ap.parse_args()
    setup_logging()
    cfg = load_run_config(args.config, {"out": args.out})
    cfg.spark.extra_conf.update(dict(kv.split("=", 1) for kv in args.conf))
    spark = get_spark(cfg.spark)
    tracker = spark.sparkContext.statusTracker()
    rows = []
    for stage in args.stages:
        before, t0 = len(tracker.getJobIdsForGroup(None)), time.time()
        run_pipeline(cfg, stages=[stage], overwrite=True, progress=False, spark_factory=lambda: spark)
        rows.append((stage, len(tracker.getJobIdsForGroup(None)) - before, time.time() - t0))
    print("| stage | Spark jobs | seconds |\n|---|---|---|")
    for stage, jobs, secs in rows:
        print(f"| {stage} | {jobs} | {secs:.1f} |")


if __name__ == "__main__":
    main()
