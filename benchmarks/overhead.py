"""Spark's overhead on ingest, dedup and annotate: each stage end to end against its pure core.

    python benchmarks/overhead.py --model runs/sample/model                     # 100K and 1M paragraphs
    python benchmarks/overhead.py --paragraphs 100000 --stages ingest dedup --json /tmp/ovh.json
    python benchmarks/overhead.py --paragraphs 2200000 --stages ingest          # a ≥ 1 GB package

For each size, a PMC bulk package of distinct articles is built (``ingest_rss.build_package``: the
bundled sample's members under fresh ids, ~620 bytes of gzip per paragraph) and every contender
runs in a fresh process pinned to one CPU (``taskset -c <cpu>``), timed by wall clock from start
to exit (interpreter, imports, JVM, model loading all count), on the same rows:

- ``ingest``: ``pmc-enrich ingest PKG --out RUN --master local[1]`` against the pure core: the
  package streamed member by member through ``pipeline.jats.parse_document`` (language id as
  configured); and against the peer, ``pubmed_parser.parse_pubmed_paragraph`` over the same members;
- ``dedup``: ``pmc-enrich dedup RUN --master local[1]`` against ``SignatureBuilder.build`` over the
  ingested paragraphs in ``dedup.batch_size`` batches (normalise, shingle, MinHash, bands: the
  per-paragraph work; grouping, LSH buckets, verification and components are what Spark adds);
- ``annotate``: ``pmc-enrich annotate RUN --model M --master local[1]`` against the student's
  ``predict`` over the same columns in ``annotate.batch_size`` batches (``--model``: a trained model
  folder, e.g. the demo's ``runs/sample/model``; annotate is skipped without one).

The default config is used (``--config`` to change it). Reported per stage: both walls at each size,
their ratio (the end-to-end overhead factor at that size), and from the two extreme sizes the
stage's fixed cost (the intercept) and the marginal factor (the ratio of the slopes: what Spark
adds per paragraph once the fixed cost is paid).
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from ingest_speed import timed  # noqa: E402 - fresh process, wall clock, raises with its stderr

log = logging.getLogger("overhead")
BYTES_PER_PARAGRAPH = 620  # gzip level 1 of the sample's members: 485 MB held 785K paragraphs
PACKAGE = "oa_comm/xml/oa_comm_xml.PMC900xxxxxx.baseline.2026-06-01.tar.gz"
STAGES = ("ingest", "dedup", "annotate")


# ----------------------------------------------------------------------------- pure cores (children)

OVERRIDES: list[str] = []  # --set KEY=VALUE, given to both contenders


def _config(path: str | None):
    from pipeline.config import load_config

    return load_config(path, dict(kv.split("=", 1) for kv in OVERRIDES))


def pure_ingest(package: Path, config: str | None) -> dict:
    from pipeline.config.ingest import language_rules
    from pipeline.jats import JatsError, parse_document

    icfg = _config(config).ingest
    rules = language_rules(icfg)
    articles = paragraphs = 0
    with tarfile.open(package, "r:gz") as tf:
        for member in tf:
            if not member.isfile():
                continue
            data = tf.extractfile(member).read()
            try:
                docs = parse_document(data, member.name, detect_language=icfg.detect_language, language_rules=rules)
            except JatsError:
                continue
            articles += len(docs)
            paragraphs += sum(len(d.paragraphs) for d in docs)
    return {"articles": articles, "paragraphs": paragraphs}


def pure_pubmed_parser(package: Path) -> dict:
    """The peer: ``pubmed_parser.parse_pubmed_paragraph`` over the same members (bytes in memory)."""
    import contextlib
    import io

    import pubmed_parser as pp

    articles = paragraphs = 0
    sink = io.StringIO()
    with tarfile.open(package, "r:gz") as tf:
        for member in tf:
            if not member.isfile():
                continue
            data = tf.extractfile(member).read()
            with contextlib.redirect_stdout(sink):  # it prints read errors
                try:
                    rows = pp.parse_pubmed_paragraph(data, all_paragraph=True)
                except Exception:  # it raises on some documents ours parses
                    rows = []
            articles += bool(rows)
            paragraphs += len(rows)
            sink.seek(0), sink.truncate()
    return {"articles": articles, "paragraphs": paragraphs}


def _paragraph_batches(run: Path, columns: list[str], batch_size: int):
    import pyarrow.parquet as pq

    for path in sorted((run / "paragraphs").glob("*.parquet")):
        yield from pq.ParquetFile(path).iter_batches(columns=columns, batch_size=batch_size)


def pure_dedup(run: Path, config: str | None) -> dict:
    from pipeline.dedup.batch import SignatureBuilder

    dcfg = _config(config).dedup
    builder = SignatureBuilder(dcfg)
    rows = 0
    for batch in _paragraph_batches(run, ["paragraph_id", "text"], dcfg.batch_size):
        rows += builder.build(batch.column(0).to_pylist(), batch.column(1).to_pylist()).num_rows
    return {"paragraphs": rows}


def pure_annotate(run: Path, model: str, config: str | None) -> dict:
    from classifiers.io import context_from_columns
    from classifiers.students import load_student, resolve_student_dir, student_card

    acfg = _config(config).annotate
    student_dir = resolve_student_dir(model, acfg.student, acfg.device)
    card = student_card(student_dir)
    use = set(card.get("context_features", []))
    student = load_student(student_dir, device=acfg.device)
    columns = ["paragraph_id", "text"] + [c for c, f in (("zone", "zone"), ("section_path", "section")) if f in use]
    rows = 0
    for batch in _paragraph_batches(run, columns, acfg.batch_size):
        data = batch.to_pydict()
        rows += len(student.predict(data["text"], context_from_columns(data)))
    return {"paragraphs": rows, "student": card.get("student")}


# ----------------------------------------------------------------------------- driver

def build_package(work: Path, paragraphs: int) -> Path:
    from ingest_rss import build_package as build

    pkg = work / PACKAGE
    if not pkg.exists():
        pkg.parent.mkdir(parents=True, exist_ok=True)
        t = time.time()
        members = build(pkg, paragraphs * BYTES_PER_PARAGRAPH, compresslevel=1)
        log.info("built %s: %.0f MB, %d members in %.0f s", pkg, pkg.stat().st_size / 1e6, members, time.time() - t)
    return pkg


def end_to_end(pin: list[str], stage: str, args: list[str], config: str | None) -> float:
    exe = str(Path(sys.executable).with_name("pmc-enrich"))
    conf = (["--config", config] if config else []) + [a for kv in OVERRIDES for a in ("--set", kv)]
    return timed(pin + [exe, stage, *args, "--master", "local[1]", "--no-progress", "--overwrite", *conf])[0]


def pure(pin: list[str], stage: str, target: Path, model: str | None, config: str | None) -> tuple[float, dict]:
    cmd = pin + [sys.executable, __file__, "--pure", stage, str(target)]
    cmd += (["--model", model] if model else []) + (["--config", config] if config else [])
    cmd += [a for kv in OVERRIDES for a in ("--set", kv)]
    wall, stdout = timed(cmd)
    return wall, json.loads(stdout.strip().splitlines()[-1])


def summary(rows: dict) -> dict:
    """Per stage: the ratio at each size, and the fixed cost and marginal factor of the two extremes."""
    out = {}
    for stage, r in rows.items():
        e2e, core, n = r["end_to_end_s"], r["pure_s"], r["paragraphs"]
        s = {"ratio": [round(a / b, 2) for a, b in zip(e2e, core)]}
        if len(n) >= 2 and n[-1] > n[0]:
            slope_e = (e2e[-1] - e2e[0]) / (n[-1] - n[0])
            slope_p = (core[-1] - core[0]) / (n[-1] - n[0])
            s["fixed_s"] = round(e2e[0] - slope_e * n[0], 1)
            s["marginal_factor"] = round(slope_e / slope_p, 2) if slope_p > 0 else None
        out[stage] = s
    return out


def markdown(rows: dict, summ: dict) -> str:
    lines = ["| stage | paragraphs | end to end (s) | pure core (s) | ratio |", "|---|---|---|---|---|"]
    for stage, r in rows.items():
        for i, n in enumerate(r["paragraphs"]):
            lines.append(f"| {stage} | {n:,} | {r['end_to_end_s'][i]:.1f} | {r['pure_s'][i]:.1f} | "
                         f"{summ[stage]['ratio'][i]:.2f} |")
    peer = rows.get("ingest", {}).get("pubmed_parser_s")
    if peer:
        lines += ["", "| paragraphs | pubmed_parser (s) | ingest / pubmed_parser (throughput) |", "|---|---|---|"]
        lines += [f"| {n:,} | {p:.1f} | {p / e:.2f}× |"
                  for n, p, e in zip(rows["ingest"]["paragraphs"], peer, rows["ingest"]["end_to_end_s"])]
    lines += ["", "| stage | fixed cost (s) | marginal factor |", "|---|---|---|"]
    for stage, s in summ.items():
        if "fixed_s" in s:
            lines.append(f"| {stage} | {s['fixed_s']:.1f} | {s['marginal_factor']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paragraphs", type=int, nargs="+", default=[100_000, 1_000_000],
                    help="package sizes, in paragraphs (approximate: ~620 gzip bytes each)")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--model", default=None, help="trained model folder for annotate (e.g. runs/sample/model)")
    ap.add_argument("--config", default=None, help="pipeline config (default: the built-in defaults)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every contender (e.g. spark.quick_jit=true)")
    ap.add_argument("--cpu", type=int, default=0, help="the CPU every contender is pinned to")
    ap.add_argument("--workdir", type=Path, default=None, help="packages and runs (default: a temp dir, removed)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--pure", nargs=2, metavar=("STAGE", "TARGET"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    OVERRIDES[:] = args.set
    if args.pure:
        stage, target = args.pure[0], Path(args.pure[1])
        result = {"ingest": lambda: pure_ingest(target, args.config),
                  "pubmed_parser": lambda: pure_pubmed_parser(target),
                  "dedup": lambda: pure_dedup(target, args.config),
                  "annotate": lambda: pure_annotate(target, args.model, args.config)}[stage]()
        print(json.dumps(result))
        return result
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stages = [s for s in STAGES if s in args.stages and (s != "annotate" or args.model)]
    if "annotate" in args.stages and not args.model:
        log.warning("annotate skipped: give --model DIR (a trained model folder, e.g. runs/sample/model)")
    pin = ["taskset", "-c", str(args.cpu)] if shutil.which("taskset") else []
    work = args.workdir or Path(tempfile.mkdtemp(prefix="overhead-"))
    results: dict = {"sizes": args.paragraphs, "cpu": args.cpu, "overrides": args.set, "load_before": os.getloadavg(),
                     "stages": {s: {"paragraphs": [], "end_to_end_s": [], "pure_s": []} for s in stages}}
    try:
        for size in args.paragraphs:
            folder = work / f"p{size}"
            pkg = build_package(folder / "input", size)
            run = folder / "run"
            for stage in stages:
                row = results["stages"][stage]
                if stage == "ingest":
                    wall = end_to_end(pin, "ingest", [str(pkg), "--out", str(run)], args.config)
                    core, info = pure(pin, "ingest", pkg, None, args.config)
                    n = json.loads((run / "reports" / "ingest.json").read_text())["figures"]["paragraphs"]
                    peer, peer_info = pure(pin, "pubmed_parser", pkg, None, None)
                    row.setdefault("pubmed_parser_s", []).append(round(peer, 2))
                    log.info("pubmed_parser, same package: %.1f s %s", peer, peer_info)
                elif stage == "dedup":
                    wall = end_to_end(pin, "dedup", [str(run)], args.config)
                    core, info = pure(pin, "dedup", run, None, args.config)
                    n = info["paragraphs"]
                else:
                    wall = end_to_end(pin, "annotate", [str(run), "--model", args.model], args.config)
                    core, info = pure(pin, "annotate", run, args.model, args.config)
                    n = info["paragraphs"]
                row["paragraphs"].append(n)
                row["end_to_end_s"].append(round(wall, 2))
                row["pure_s"].append(round(core, 2))
                log.info("%s, %d paragraphs: end to end %.1f s, pure core %.1f s (%.2f×) %s",
                         stage, n, wall, core, wall / core, info)
        results["summary"] = summary(results["stages"])
        results["load_after"] = os.getloadavg()
        results["markdown"] = markdown(results["stages"], results["summary"])
        print(results["markdown"])
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
