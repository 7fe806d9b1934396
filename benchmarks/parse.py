"""Parser benchmark: our JATS parser vs pubmed_parser vs bare lxml, one core, same real articles.

    python benchmarks/parse.py --rounds 9          # bulk members of tests/data + ../shared/data
    python benchmarks/parse.py --rounds 5 --other  # also the non-PMC JATS (eLife, SciELO, OAI, …)
    python benchmarks/parse.py --json out.json     # also write the numbers

What is measured, per parser, on exactly the same documents (already in memory, deduplicated by
content):
- ``lxml``: bare ``lxml.etree.fromstring`` (same safe parser flags as ours), the floor;
- ``ours``: ``pipeline.jats.parse_document(data, source, detect_language=False)``: metadata,
  abstracts, trans-abstracts, body, back matter, boxed text, captions, sub-articles, section and
  xml paths, normalised text;
- ``pubmed_parser``: ``parse_pubmed_paragraph(path, all_paragraph=True)`` (every ``//body//p``,
  nested ones counted again, plus the article metadata; it takes a path, so members are written
  to temp files first and only the call is timed). It prints read errors and returns ``[]``, so
  its "docs ok" counts documents that yielded at least one paragraph.

Timing: CPU seconds of this process, pinned to one CPU; the three parsers are interleaved document
by document (lxml, ours, pubmed_parser, next document, …) so load changes on a shared machine hit
all three alike; the best of ``--rounds`` rounds per parser is reported. Language identification
is timed separately: one batched ``identify_batch`` call over all our paragraphs.

Fused words: a paragraph counts as "fused" when it contains a lowercase→Capitalised join inside one
token (``cellsThe``) or a sentence end glued to the next word (``cells.The``); the same regex for
both parsers. Real camel-case terms (``bioRxiv``, ``randomForest``) and missing spaces in the source
text itself hit both alike; compare the per-1000-paragraph rates.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import hashlib
import json
import os
import re
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FUSED = re.compile(r"\b[a-z]{3,}[A-Z][a-z]{2,}\b|\b[a-z]{3,}[.!?;:][A-Z][a-z]{2,}\b")


def load_documents(roots: list[Path], other: bool) -> list[tuple[str, bytes]]:
    """(source, bytes) of every bulk member (deduplicated by content) and optionally other JATS."""
    docs: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for root in roots:
        for tgz in sorted(root.glob("pmc-oa-bulk/*/xml/*.tar.gz")):
            with tarfile.open(tgz) as tf:
                for member in tf:
                    if not member.isfile():
                        continue
                    data = tf.extractfile(member).read()
                    digest = hashlib.sha1(data).hexdigest()
                    if digest not in seen:
                        seen.add(digest)
                        docs.append((f"{tgz.name}::{member.name}", data))
        if other:
            for path in sorted(root.glob("jats-other/*/*.xml")):
                data = path.read_bytes()
                digest = hashlib.sha1(data).hexdigest()
                if digest not in seen:
                    seen.add(digest)
                    docs.append((str(path), data))
    return docs


def make_runners():
    """One callable per parser: (source, bytes, temp path) → (parsed ok, paragraph texts)."""
    import pubmed_parser as pp
    from lxml import etree

    from pipeline.jats import JatsError, parse_document

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

    def lxml_one(source, data, path):
        etree.fromstring(data, parser)
        return True, []

    def ours_one(source, data, path):
        try:
            parsed = parse_document(data, source, detect_language=False)
        except JatsError as exc:
            raise ValueError(exc.reason) from None
        return True, [p["text"] for a in parsed for p in a.paragraphs]

    def pubmed_one(source, data, path):
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its errors and returns []
            pars = pp.parse_pubmed_paragraph(path, all_paragraph=True)
        # on a file lxml cannot read it prints an error and returns [] instead of raising
        return bool(pars), [p["text"] for p in pars]

    return {"lxml": lxml_one, "ours": ours_one, "pubmed_parser": pubmed_one}


def run_round(runners, docs, paths, keep: bool):
    """Interleave parsers document by document, so load drift on a shared machine hits all alike.

    Times are CPU seconds of this process (the process is pinned to one core)."""
    clock = time.process_time
    seconds = dict.fromkeys(runners, 0.0)
    ok = dict.fromkeys(runners, 0)
    texts: dict[str, list[str]] = {name: [] for name in runners}
    gc.collect()
    for (source, data), path in zip(docs, paths):
        for name, fn in runners.items():
            t0 = clock()
            try:
                good, out = fn(source, data, path)
            except Exception:
                good, out = False, []
            seconds[name] += clock() - t0
            ok[name] += good
            if keep:
                texts[name].extend(out)
    return seconds, ok, texts


def count_articles(docs) -> int:
    from pipeline.jats import JatsError, parse_document

    n = 0
    for source, data in docs:
        try:
            n += len(parse_document(data, source, detect_language=False))
        except JatsError:
            pass
    return n


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", type=Path, help="data roots (default: tests/data and ../shared/data)")
    ap.add_argument("--other", action="store_true", help="also parse jats-other (non-PMC JATS)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last one)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = ap.parse_args(argv)

    roots = args.data or [p for p in (REPO / "tests" / "data", REPO.parent / "shared" / "data") if p.exists()]
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    docs = load_documents(roots, args.other)
    n = len(docs)
    n_articles = count_articles(docs)

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (_, data) in enumerate(docs):
            path = os.path.join(tmp, f"{i:06d}.xml")
            with open(path, "wb") as fh:
                fh.write(data)
            paths.append(path)
        runners = make_runners()
        # warm-up round (imports, caches) that also collects the outputs for the quality columns
        _, ok, outs = run_round(runners, docs, paths, keep=True)
        best = dict.fromkeys(runners, float("inf"))
        for _ in range(args.rounds):
            seconds, _, _ = run_round(runners, docs, paths, keep=False)
            for name, secs in seconds.items():
                best[name] = min(best[name], secs)

    from pipeline.langid import identify_batch

    texts = outs["ours"]
    identify_batch(texts[:64])  # load the model outside the timing
    gc.collect()
    t0 = time.process_time()
    identify_batch(texts)
    lang_s = time.process_time() - t0

    rows = []
    for name in runners:
        ptexts = None if name == "lxml" else outs[name]
        secs = best[name]
        rows.append(
            {
                "parser": name,
                "docs_ok": ok[name],
                "cpu_seconds": round(secs, 4),
                "articles_per_s": round(n / secs, 1),
                "ratio_vs_lxml": round(best["lxml"] / secs, 3),
                "paragraphs": None if ptexts is None else len(ptexts),
                "fused_paragraphs": None if ptexts is None else sum(1 for t in ptexts if FUSED.search(t)),
            }
        )
        rows[-1]["fused_per_1000"] = (
            None if ptexts is None else round(1000 * rows[-1]["fused_paragraphs"] / max(1, len(ptexts)), 2)
        )
    result = {
        "documents": n,
        "articles": n_articles,
        "cpu": cpu,
        "rounds": args.rounds,
        "parsers": rows,
        "langid": {
            "paragraphs": len(texts),
            "cpu_seconds": round(lang_s, 3),
            "paragraphs_per_s": round(len(texts) / lang_s, 1) if lang_s else None,
        },
    }
    print(f"{n} documents ({n_articles} articles), 1 core (cpu {cpu}), best of {args.rounds} interleaved rounds")
    print(f"{'parser':<16} {'docs ok':>8} {'docs/s/core':>12} {'vs lxml':>8} {'paragraphs':>11} {'fused':>6} {'fused/1000':>10}")
    def cell(value, fmt=""):
        return "-" if value is None else format(value, fmt)

    for r in rows:
        print(
            f"{r['parser']:<16} {cell(r['docs_ok']):>8} {cell(r['articles_per_s'], '.1f'):>12} "
            f"{cell(r['ratio_vs_lxml'], '.2f'):>8} {cell(r['paragraphs']):>11} {cell(r['fused_paragraphs']):>6} "
            f"{cell(r['fused_per_1000'], '.2f'):>10}"
        )
    li = result["langid"]
    print(f"language id (fastText lid.176.ftz, batched, {li['paragraphs']} paragraphs): {li['cpu_seconds']} s, {li['paragraphs_per_s']} paragraphs/s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
