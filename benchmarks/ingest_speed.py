"""Ingest end to end vs the parsers it wraps: one core, the same files, wall time.

    python benchmarks/ingest_speed.py                          # 1,800 and 7,200 files, each run twice
    python benchmarks/ingest_speed.py --files 1800 7200 --repeats 2 --json /tmp/ingest_speed.json

The corpus: every unique JATS document of ``tests/data`` and ``/work/shared/data`` (bulk package
members and the other publishers' files, deduplicated by content, as ``benchmarks/parse.py``
loads them), written as loose ``.xml`` files and cycled until there are N files, each copy under
its own name. Identical copies are the same article, so ingest keeps one and records the rest in
``superseded/``: every file is still read, parsed, staged and merged.

Three contenders, each a fresh process pinned to one CPU (``taskset -c <cpu>``), timed by wall
clock from start to exit, so interpreter start, imports, JVM start and model loading all count:

- ``ingest``: ``pmc-enrich ingest DIR --out RUN --master local[1]`` (the CLI, through
  ``pipeline.stage.run_stage``), with the default config (language identification on);
- ``pubmed_parser``: ``parse_pubmed_paragraph(path, all_paragraph=True)`` over the files in one
  process;
- ``ours``: ``pipeline.jats.parse_document(bytes, source, detect_language=<config default>)`` over
  the files in one process: the pure core ingest runs, with the same language settings.

Each (contender, size) runs ``--repeats`` times; the best wall time counts (the development machine
is shared). The fixed cost is the intercept of the line through the two sizes, the marginal rate
its inverse slope; both are reported in articles (as parsed by our parser) per second.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

log = logging.getLogger("ingest_speed")
DATA_ROOTS = [REPO / "tests" / "data", Path("/work/shared/data")]


# ----------------------------------------------------------------------------- pure contenders


def _pure(kind: str, folder: Path) -> None:
    """Child process: parse every file of ``folder`` with one parser; prints a JSON line."""
    files = sorted(folder.glob("*.xml"))
    articles = 0
    if kind == "pubmed_parser":
        import pubmed_parser as pp

        sink = io.StringIO()
        for path in files:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):  # it prints read errors
                try:
                    if pp.parse_pubmed_paragraph(str(path), all_paragraph=True):
                        articles += 1
                except Exception:  # it raises on some documents ours parses (e.g. odd DOCTYPEs)
                    pass
    else:
        from pipeline.config import load_config
        from pipeline.config.ingest import language_rules
        from pipeline.jats import JatsError, parse_document

        icfg = load_config(None, {}).ingest
        rules = language_rules(icfg)
        for path in files:
            try:
                articles += len(parse_document(path.read_bytes(), path.name, detect_language=icfg.detect_language,
                                               language_rules=rules))
            except JatsError:
                pass
    print(json.dumps({"files": len(files), "articles": articles}))


# ----------------------------------------------------------------------------- driver


def build_corpus(folder: Path, n_files: int) -> int:
    """Write ``n_files`` loose JATS files cycling over the unique documents; returns the unique count."""
    from parse import load_documents

    docs = load_documents([r for r in DATA_ROOTS if r.is_dir()], other=True)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        source, data = docs[i % len(docs)]
        stem = Path(source.split("::")[-1]).name.removesuffix(".xml").removesuffix(".nxml")
        (folder / f"{i:05d}-{stem}.xml").write_bytes(data)
    return len(docs)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, done.stdout


def run_ingest(pin: list[str], corpus: Path, out: Path) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    exe = str(Path(sys.executable).with_name("pmc-enrich"))
    wall, _ = timed(pin + [exe, "ingest", str(corpus), "--out", str(out), "--master", "local[1]", "--no-progress"])
    report = json.loads((out / "reports" / "ingest.json").read_text())
    return wall, report


def run_pure(pin: list[str], kind: str, corpus: Path) -> tuple[float, dict]:
    wall, stdout = timed(pin + [sys.executable, __file__, "--pure", kind, str(corpus)])
    return wall, json.loads(stdout.strip().splitlines()[-1])


def line(sizes: list[int], walls: list[float], articles: list[int]) -> tuple[float, float]:
    """(fixed seconds, marginal articles/s) of the line through the first and last size."""
    (a0, t0), (a1, t1) = (articles[0], walls[0]), (articles[-1], walls[-1])
    slope = (t1 - t0) / (a1 - a0)
    return t0 - slope * a0, (1 / slope if slope > 0 else float("inf"))


def markdown(results: dict) -> str:
    sizes = results["sizes"]
    arts = results["articles"]
    out = ["| contender | " + " | ".join(f"{n:,} files wall (s)" for n in sizes) + " | "
           + " | ".join(f"articles/s at {n:,}" for n in sizes) + " | fixed cost (s) | marginal articles/s |",
           "|---|" + "---|" * (2 * len(sizes) + 2)]
    for name, row in results["contenders"].items():
        walls = row["best_wall_s"]
        out.append(f"| {name} | " + " | ".join(f"{w:.1f}" for w in walls) + " | "
                   + " | ".join(f"{a / w:.0f}" for a, w in zip(arts, walls))
                   + f" | {row['fixed_s']:.1f} | {row['marginal_articles_per_s']:.0f} |")
    c = results["contenders"]
    out.append("")
    for n_i, n in enumerate(sizes):
        ing = c["ingest"]["best_wall_s"][n_i]
        out.append(f"- {n:,} files: ingest / pubmed_parser = {c['pubmed_parser']['best_wall_s'][n_i] / ing:.2f}×, "
                   f"ingest / ours = {c['ours']['best_wall_s'][n_i] / ing:.2f}× (end-to-end throughput ratios)")
    out.append(f"- marginal: ingest / pubmed_parser = "
               f"{c['ingest']['marginal_articles_per_s'] / c['pubmed_parser']['marginal_articles_per_s']:.2f}×, "
               f"ingest / ours = {c['ingest']['marginal_articles_per_s'] / c['ours']['marginal_articles_per_s']:.2f}×")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, nargs="+", default=[1800, 7200], help="corpus sizes in files (≥ 2 sizes)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per contender and size; the best counts")
    ap.add_argument("--cpu", type=int, default=0, help="the CPU every contender is pinned to")
    ap.add_argument("--only", nargs="+", choices=["ingest", "pubmed_parser", "ours"],
                    default=["ingest", "pubmed_parser", "ours"])
    ap.add_argument("--workdir", type=Path, default=None, help="where corpora and runs go (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--pure", nargs=2, metavar=("KIND", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.pure:
        _pure(args.pure[0], Path(args.pure[1]))
        return {}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if len(args.files) < 2:
        ap.error("give at least two sizes (the fixed cost is their intercept)")
    pin = ["taskset", "-c", str(args.cpu)] if shutil.which("taskset") else []
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ingest-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"sizes": args.files, "articles": [], "cpu": args.cpu, "load_before": os.getloadavg(),
                     "contenders": {name: {"wall_s": [], "best_wall_s": []} for name in args.only}}
    try:
        for n in args.files:
            corpus = work / f"corpus-{n}"
            unique = build_corpus(corpus, n)
            results["unique_documents"] = unique
            articles = None
            for name in args.only:
                walls = []
                for r in range(args.repeats):
                    if name == "ingest":
                        wall, report = run_ingest(pin, corpus, work / f"run-{n}")
                        figs = report["figures"]
                        info = {"articles": figs["articles"]["parsed"], "stage_elapsed_s": report["elapsed_s"]}
                    else:
                        wall, info = run_pure(pin, name, corpus)
                    if name == "ours":
                        articles = info["articles"]
                    walls.append(round(wall, 2))
                    log.info("%s, %d files, run %d: %.1f s %s", name, n, r + 1, wall, info)
                results["contenders"][name]["wall_s"].append(walls)
                results["contenders"][name]["best_wall_s"].append(min(walls))
                if name == "ingest" and articles is None:
                    articles = info["articles"]
            results["articles"].append(articles)
        for row in results["contenders"].values():
            row["fixed_s"], row["marginal_articles_per_s"] = line(args.files, row["best_wall_s"], results["articles"])
        results["load_after"] = os.getloadavg()
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if set(args.only) == {"ingest", "pubmed_parser", "ours"}:
        results["markdown"] = markdown(results)
        print(results["markdown"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
