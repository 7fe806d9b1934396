"""Parser benchmark: our JATS parser vs pubmed_parser vs bare lxml, one core, same real articles.

    python benchmarks/parse.py                    # bulk members from tests/data + ../shared/data
    python benchmarks/parse.py --other            # also the non-PMC JATS (eLife, SciELO, …)
    python benchmarks/parse.py --rounds 7 --json out.json

What is measured, per parser, on exactly the same documents (already in memory):
- ``lxml``: bare ``lxml.etree.fromstring`` (same safe parser flags as ours), the floor;
- ``ours``: ``pipeline.jats.parse_document(data, source, detect_language=False)``: metadata,
  abstracts, body, back matter, boxed text, captions, sub-articles, section/xml paths;
- ``pubmed_parser``: ``parse_pubmed_paragraph(path, all_paragraph=True)`` (body ``<p>`` only;
  it takes a path, so members are written to temp files first and only the call is timed).

Timing: the process is pinned to one CPU; rounds are interleaved (lxml, ours, pubmed_parser,
lxml, …) and the best round per parser is reported, which is what survives a noisy shared machine.
Language identification is timed separately on our paragraphs, batched.

Fused words: a paragraph counts as "fused" when it contains a lowercase→Capitalised join inside one
token (``cellsThe``) or a sentence end glued to the next word (``cells.The``), the same regexes for
both parsers. Known camel-case terms (``bioRxiv``, ``mRNA``-like tokens, ``eLife``) hit both alike;
the difference between parsers is what matters.
"""

from __future__ import annotations

import argparse
import gc
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


def run_lxml(docs):
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    ok = 0
    for _, data in docs:
        try:
            etree.fromstring(data, parser)
            ok += 1
        except etree.XMLSyntaxError:
            pass
    return {"ok": ok}


def run_ours(docs, keep=False):
    from pipeline.jats import JatsError, parse_document

    ok = articles = 0
    texts: list[str] = []
    for source, data in docs:
        try:
            parsed = parse_document(data, source, detect_language=False)
        except JatsError:
            continue
        ok += 1
        articles += len(parsed)
        if keep:
            texts.extend(p["text"] for a in parsed for p in a.paragraphs)
    return {"ok": ok, "articles": articles, "texts": texts}


def run_pubmed_parser(paths, keep=False):
    import pubmed_parser as pp

    ok = 0
    texts: list[str] = []
    for path in paths:
        try:
            pars = pp.parse_pubmed_paragraph(path, all_paragraph=True)
        except Exception:  # it raises whatever lxml raises on bad input
            continue
        ok += 1
        if keep:
            texts.extend(p["text"] for p in pars)
    return {"ok": ok, "texts": texts}


def timed(fn, *args):
    gc.collect()
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


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

    from pipeline.langid import identify_batch

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (_, data) in enumerate(docs):
            path = os.path.join(tmp, f"{i:06d}.xml")
            with open(path, "wb") as fh:
                fh.write(data)
            paths.append(path)

        best = {"lxml": float("inf"), "ours": float("inf"), "pubmed_parser": float("inf")}
        # warm-up round (imports, caches) that also collects the outputs for the quality columns
        _, ours_out = timed(run_ours, docs, True)
        _, pp_out = timed(run_pubmed_parser, paths, True)
        lx_out = run_lxml(docs)
        for _ in range(args.rounds):
            best["lxml"] = min(best["lxml"], timed(run_lxml, docs)[0])
            best["ours"] = min(best["ours"], timed(run_ours, docs)[0])
            best["pubmed_parser"] = min(best["pubmed_parser"], timed(run_pubmed_parser, paths)[0])

    texts = ours_out["texts"]
    identify_batch(texts[:64])  # load the model outside the timing
    lang_s, _ = timed(identify_batch, texts)

    rows = []
    for name, ok, ptexts in (
        ("lxml", lx_out["ok"], None),
        ("ours", ours_out["ok"], ours_out["texts"]),
        ("pubmed_parser", pp_out["ok"], pp_out["texts"]),
    ):
        secs = best[name]
        rows.append(
            {
                "parser": name,
                "docs_ok": ok,
                "seconds": round(secs, 4),
                "articles_per_s": round(n / secs, 1),
                "ratio_vs_lxml": round(best["lxml"] / secs, 3),
                "paragraphs": None if ptexts is None else len(ptexts),
                "fused_paragraphs": None if ptexts is None else sum(1 for t in ptexts if FUSED.search(t)),
            }
        )
    result = {
        "documents": n,
        "articles": ours_out["articles"],
        "cpu": cpu,
        "rounds": args.rounds,
        "parsers": rows,
        "langid": {
            "paragraphs": len(texts),
            "seconds": round(lang_s, 3),
            "paragraphs_per_s": round(len(texts) / lang_s, 1) if lang_s else None,
        },
    }
    header = f"{'parser':<14} {'docs ok':>8} {'art/s/core':>11} {'vs lxml':>8} {'paragraphs':>11} {'fused':>6}"
    print(f"{n} documents ({ours_out['articles']} articles), 1 core (cpu {cpu}), best of {args.rounds} rounds")
    print(header)
    for r in rows:
        print(
            f"{r['parser']:<14} {r['docs_ok']:>8} {r['articles_per_s']:>11.1f} {r['ratio_vs_lxml']:>8.2f} "
            f"{'-' if r['paragraphs'] is None else r['paragraphs']:>11} "
            f"{'-' if r['fused_paragraphs'] is None else r['fused_paragraphs']:>6}"
        )
    li = result["langid"]
    print(f"language id (batched, {li['paragraphs']} paragraphs): {li['seconds']} s, {li['paragraphs_per_s']} paragraphs/s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
