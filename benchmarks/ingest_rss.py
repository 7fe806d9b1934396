"""Peak memory of the ingest job on a ≥ 1 GB bulk package.

Builds a PMC-layout ``.tar.gz`` (+ filelist) by repeating the bundled sample's members under fresh
PMC ids until the archive reaches ``--size-gb``, ingests it with the real job (``local[2]`` by
default), and samples the resident memory of every process the job starts: the JVM and each
Python worker (``/proc/<pid>/status`` VmHWM, the kernel's own high-water mark, so short peaks
are not missed between samples). Prints peak RSS per Python worker, the JVM's, and articles/s.
Everything is written to a temporary folder outside the repo and deleted afterwards.

    python benchmarks/ingest_rss.py                  # 1 GB, language id off (see --help)
    python benchmarks/ingest_rss.py --size-gb 0.1 --detect-language
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.sources import FilelistEntry, read_filelist, write_package  # noqa: E402

log = logging.getLogger("ingest_rss")
BULK = REPO / "tests" / "data" / "pmc-oa-bulk"


# ------------------------------------------------------------------------------ the package

def sample_members() -> list[tuple[str, bytes, FilelistEntry]]:
    out = []
    for pkg in sorted(BULK.glob("*/xml/*.tar.gz")):
        filelist = read_filelist(str(pkg).replace(".tar.gz", ".filelist.csv"))
        with tarfile.open(pkg, "r:gz") as tf:
            for m in tf:
                if m.isfile():
                    out.append((m.name, tf.extractfile(m).read(), filelist[m.name]))
    return out


def build_package(path: Path, size_bytes: int, compresslevel: int) -> int:
    """Repeat the sample under new ids (PMC900000000 + n) until the file reaches ``size_bytes``."""
    members = sample_members()
    rows: list[FilelistEntry] = []
    counter = {"n": 0}

    def gen():
        n = 0
        while True:
            for name, data, entry in members:
                if n % 200 == 0 and path.exists() and path.stat().st_size >= size_bytes:
                    return
                new_id = f"PMC{900000000 + n}"
                old_id = entry.accession or name.rsplit("/", 1)[-1][:-4]
                member = f"PMC900xxxxxx/{new_id}.xml"
                # The XML's own ids change too, so every copy is a distinct article.
                body = data.replace(old_id.encode(), new_id.encode()).replace(
                    old_id.removeprefix("PMC").encode(), new_id.removeprefix("PMC").encode())
                rows.append(FilelistEntry(member, new_id, entry.last_updated, None, entry.license, False))
                n += 1
                counter["n"] = n
                yield member, body

    write_package(str(path), gen(), None, compresslevel=compresslevel)
    # filelist written after the archive (we only know the rows now)
    write_package_filelist(path, rows)
    return counter["n"]


def write_package_filelist(path: Path, rows: list[FilelistEntry]) -> None:
    import csv

    from pipeline.sources import FILELIST_HEADER

    with open(str(path).replace(".tar.gz", ".filelist.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FILELIST_HEADER)
        for e in rows:
            w.writerow([e.member, "", e.accession, e.last_updated.strftime("%Y-%m-%d %H:%M:%S") if e.last_updated else "",
                        "", e.license or "", "no"])


# ------------------------------------------------------------------------------- the sampler

def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value, _unit = line.split()
                    out[key[:-1]] = int(value) * 1024
    except OSError:
        pass
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for tdir in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(x) for x in (tdir / "children").read_text().split()]
        except OSError:
            pass
    return kids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class RssSampler(threading.Thread):
    """Every ``interval`` s: walk this process's descendants, remember each one's VmHWM."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval = interval
        self.peaks: dict[int, tuple[str, int]] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def sample(self) -> None:
        # driver (this process) → JVM (spark-submit) → pyspark.daemon → forked Python workers
        todo = [(os.getpid(), "driver")]
        while todo:
            pid, kind = todo.pop()
            st = _status(pid)
            if st:
                peak = max(st.get("VmHWM", 0), st.get("VmRSS", 0), self.peaks.get(pid, ("", 0))[1])
                self.peaks[pid] = (kind, peak)
            for child in _children(pid):
                cmd = _cmdline(child)
                if kind == "driver":
                    child_kind = "jvm" if "java" in cmd else "other"
                elif kind == "jvm":
                    child_kind = "python-daemon" if "pyspark.daemon" in cmd else "python-worker"
                elif kind == "python-daemon":
                    child_kind = "python-worker"
                else:
                    child_kind = kind
                todo.append((child, child_kind))

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()

    def summary(self) -> dict:
        by_kind: dict[str, list[int]] = {}
        for kind, peak in self.peaks.values():
            by_kind.setdefault(kind, []).append(peak)
        gib = 1024 ** 3
        # Workers come and go (one per task slot at a time), so the figure per kind is the largest
        # peak of any single process of that kind.
        return {kind: {"processes": len(v), "peak_rss_gib": round(max(v) / gib, 3)}
                for kind, v in sorted(by_kind.items())}


# -------------------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=1.0, help="size of the package to build (compressed)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--compresslevel", type=int, default=1, help="gzip level of the built package")
    ap.add_argument("--detect-language", action="store_true",
                    help="run paragraph language id too (slower; off by default: it does not change memory)")
    ap.add_argument("--tmp", default=None, help="work folder (default: a new temp dir, deleted afterwards)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from pipeline.stage import run_stage
    from pipeline.stages import BY_NAME
    from pipeline.config import PipelineConfig, SparkConfig
    from pipeline.spark import get_spark

    work = Path(args.tmp or tempfile.mkdtemp(prefix="ingest-rss-"))
    try:
        pkg_dir = work / "oa_comm" / "xml"
        pkg_dir.mkdir(parents=True, exist_ok=True)
        pkg = pkg_dir / "oa_comm_xml.PMC900xxxxxx.baseline.2026-06-01.tar.gz"
        t = time.time()
        n_members = build_package(pkg, int(args.size_gb * 1024 ** 3), args.compresslevel)
        log.info("built %s: %.2f GB, %d members in %.0fs", pkg.name, pkg.stat().st_size / 1e9, n_members, time.time() - t)

        sampler = RssSampler()
        sampler.start()
        spark = get_spark(SparkConfig(master=args.master, driver_memory=args.driver_memory, show_progress=False,
                                      log_level="ERROR"))
        cfg = PipelineConfig(inputs=[str(work)], out=str(work / "run"))
        cfg.ingest.detect_language = args.detect_language
        t = time.time()
        report = run_stage(BY_NAME["ingest"], cfg, progress=False, spark_factory=lambda: spark)["figures"]
        elapsed = time.time() - t
        sampler.stop()
        spark.stop()
        result = {
            "package_bytes": pkg.stat().st_size,
            "members": n_members,
            "master": args.master,
            "driver_memory": args.driver_memory,
            "detect_language": args.detect_language,
            "ingest_seconds": round(elapsed, 1),
            "articles": report["articles"]["kept"],
            "paragraphs": report["paragraphs"],
            "articles_per_s": round(report["articles"]["kept"] / elapsed, 1),
            "documents": report["documents"],
            "rss": sampler.summary(),
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
        }
        print(json.dumps(result, indent=2))
    finally:
        if not args.tmp:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
