"""Measure paragraph language-id precision per (min words, min score) threshold on real text.

    python benchmarks/langid_thresholds.py [--json out.json] [DATA_DIR ...]

Gold: each paragraph's declared ``xml:lang`` (nearest enclosing article / trans-abstract /
sub-article). Only paragraphs declared ``en``, ``pt`` or ``es`` are measured (the bundled SciELO,
PMC and other real JATS under /work/shared/data and tests/data). Declared labels are themselves
noisy (an English keyword list inside a Portuguese article keeps ``pt``), so the precision below is
a lower bound. For every threshold pair: coverage (share of paragraphs that get a language) and
precision (share of those whose language equals the declared one), plus how many paragraphs would
be called French (the data holds no French text, so every one is a false ``fr``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.jats import JatsError, parse_document  # noqa: E402
from pipeline.langid import raw_identify_batch  # noqa: E402
from pipeline.sources import Document, discover_inputs, read_unit  # noqa: E402

GOLD = ("en", "pt", "es")
MIN_WORDS = (0, 3, 5, 8, 10, 15, 20, 30)
MIN_SCORES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def declared_paragraphs(dirs: list[str]) -> list[tuple[str, str, int, str]]:
    """(text, declared language, n_words, zone) of every paragraph with a declared en/pt/es."""
    out, seen = [], set()
    for unit in discover_inputs(dirs).units:
        for rec in read_unit(unit, 64 * 1024 * 1024):
            if not isinstance(rec, Document) or rec.data in seen:
                continue
            seen.add(rec.data)  # the same article bundled twice counts once
            try:
                parsed = parse_document(rec.data, rec.source, detect_language=False)
            except JatsError:
                continue
            for art in parsed:
                for p in art.paragraphs:
                    lang = (p["language"] or "").lower()[:2]
                    if lang in GOLD:
                        out.append((p["text"], lang, p["n_words"], p["zone"]))
    return out


def measure(rows, predicted) -> list[dict]:
    table = []
    for min_words in MIN_WORDS:
        for min_score in MIN_SCORES:
            assigned = agree = fr = other = 0
            called = {g: [0, 0] for g in GOLD}  # predicted g: [right, total]
            for (_, gold, n_words, _), (lang, score) in zip(rows, predicted):
                if lang is None or n_words < min_words or score < min_score:
                    continue
                assigned += 1
                agree += lang == gold
                fr += lang == "fr"
                other += lang not in GOLD
                if lang in called:
                    called[lang][0] += lang == gold
                    called[lang][1] += 1
            table.append({"min_words": min_words, "min_score": min_score, "assigned": assigned,
                          "coverage": round(assigned / len(rows), 4),
                          "precision": round(agree / assigned, 4) if assigned else None,
                          **{f"precision_{g}": round(r / t, 4) if t else None for g, (r, t) in called.items()},
                          "called_fr": fr, "called_other": other})
    return table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="*", default=["/work/shared/data"])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    rows = declared_paragraphs(args.dirs)
    predicted = raw_identify_batch([r[0] for r in rows])
    by_lang = {g: sum(r[1] == g for r in rows) for g in GOLD}
    print(f"{len(rows)} paragraphs with declared en/pt/es: {by_lang}")
    table = measure(rows, predicted)
    print("| min words | min score | coverage | precision | prec. en | prec. pt | prec. es | called fr | called other |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in table:
        print(f"| {r['min_words']} | {r['min_score']:.2f} | {r['coverage']:.3f} | {r['precision'] or 0:.4f} | "
              f"{r['precision_en'] or 0:.4f} | {r['precision_pt'] or 0:.4f} | {r['precision_es'] or 0:.4f} | "
              f"{r['called_fr']} | {r['called_other']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"paragraphs": len(rows), "by_language": by_lang,
                                               "table": table}, indent=2))


if __name__ == "__main__":
    main()
