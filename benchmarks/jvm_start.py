"""Fixed cost of a local Spark driver: session start, first Arrow job, first aggregation, in fresh
processes, with and without ``spark.quick_jit`` and the class archive (``pmc-enrich jvm-cache``).

    python benchmarks/jvm_start.py --rounds 3

Variants run interleaved (round 1 of each, then round 2, ...) so that machine load hits them alike;
the table gives the median per variant. The class-archive variants need the archive built first
(``pmc-enrich jvm-cache``); they are skipped with a note when it is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROBE = """
import json, sys, time
t0 = time.time()
from pipeline.config import SparkConfig
from pipeline.spark import get_spark
quick, archive = sys.argv[1] == "1", sys.argv[2] == "1"
spark = get_spark(SparkConfig(master="local[2]", shuffle_partitions=4, log_level="ERROR", quick_jit=quick,
                              class_cache=archive))
t1 = time.time()
def same(batches):
    yield from batches
spark.range(0, 3, 1, 1).mapInArrow(same, "id long").collect()
t2 = time.time()
spark.range(0, 10).selectExpr("id % 3 as k").groupBy("k").count().collect()
t3 = time.time()
print(json.dumps({"session_s": t1 - t0, "first_arrow_job_s": t2 - t1, "first_aggregation_s": t3 - t2}))
spark.stop()
"""

VARIANTS = {"plain": ("0", "0"), "quick_jit": ("1", "0"), "class archive": ("0", "1"), "both": ("1", "1")}
KEYS = ("session_s", "first_arrow_job_s", "first_aggregation_s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from pipeline.jvm_cache import archive_path

    have_archive = bool(archive_path() and archive_path().is_file())
    variants = {k: v for k, v in VARIANTS.items() if have_archive or v[1] == "0"}
    if not have_archive:
        print("no class archive on this machine (run `pmc-enrich jvm-cache`): its variants are skipped")
    runs: dict[str, list[dict]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, (quick, archive) in variants.items():
            out = subprocess.run([sys.executable, "-c", PROBE, quick, archive], cwd=REPO, capture_output=True,
                                 text=True, timeout=300)
            if out.returncode != 0:
                sys.exit(f"{name}: the probe failed:\n{out.stderr[-2000:]}")
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| variant | session start | first Arrow job | first aggregation | total |\n|---|---|---|---|---|")
    for name, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in KEYS}
        print(f"| {name} | {med['session_s']:.1f} s | {med['first_arrow_job_s']:.1f} s | "
              f"{med['first_aggregation_s']:.1f} s | {sum(med.values()):.1f} s |")


if __name__ == "__main__":
    main()
