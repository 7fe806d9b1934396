"""Decontamination benchmark: recall on planted overlaps, flags on untouched paragraphs, speed per
core against datatrove's n-gram decontamination, and the Spark stage end to end.

    python benchmarks/decontaminate.py                       # /work/shared/data, 300 verbatim + 100 edited
    python benchmarks/decontaminate.py --data tests/data --verbatim 150 --edited 50
    python benchmarks/decontaminate.py --spark --json out.json

What is measured, on the same real paragraphs (every paragraph of the JATS under ``--data``):

- Planting (``pipeline.decontam.planted``): ``--verbatim`` paragraphs of ≥ 40 words put into
  benchmark files in the six supported formats as verbatim runs of ≥ 30 words (the whole paragraph
  half the time), ``--edited`` more with one word in every 25 changed; every other paragraph is an
  untouched control.
- Recall: share of planted paragraphs flagged *for their own benchmark item* (target ≥ 0.99 for
  verbatim runs of ≥ 30 words).
- Flags on untouched paragraphs: controls flagged, split into those that really share a word n-gram
  with a benchmark text (checked by comparing word tuples, no hashing: e.g. an abstract sentence
  repeated in the body of the same article) and false flags that do not (hash collisions or
  normalisation bugs; target ≤ 0.1 % of controls).
- Speed: paragraphs per CPU second on one core (``time.process_time``, best of ``--rounds``), for
  our pure matcher (``match_rows``: normalise, hash every n-gram, count matches per item) and for
  datatrove's ``NGramsDecontFilter.filter`` over the same paragraphs with an index of the same
  benchmark texts built as ``NGramsDecontIndexer.compute_hashes`` does (the indexer class itself
needs lighteval, not installed), datatrove's default normalisation. datatrove is run with a
  whitespace word tokenizer (its English one needs spaCy, not installed) and with its xxhash64
  function fed UTF-8 bytes (datatrove 0.10 passes ``str``, which xxhash ≥ 4 refuses).
- ``--spark``: the stage (``jobs.decontaminate.build_decontaminate``) on a run holding these
  paragraphs, ``local[1]``, both plans (broadcast and join), wall seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.decontam.index import build_index  # noqa: E402
from pipeline.decontam.match import match_rows  # noqa: E402
from pipeline.decontam.planted import choose, reference_flags, sample_paragraphs, write_planted  # noqa: E402
from pipeline.decontam.readers import read_benchmark  # noqa: E402


def best_cpu(fn, rounds: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(rounds):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def datatrove_filter(texts: list[str], n: int, folder: Path):
    """datatrove's indexer hashes for ``texts`` written as its index file, and its filter."""
    import numpy as np
    import xxhash
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.utils.text import ngrams, simplify_text
    from peers import whitespace_tokenizer

    def xxh64(s):
        return xxhash.xxh64_intdigest(s.encode("utf-8"))

    config = NGramsDecontConfig(n_grams=n)  # datatrove's defaults otherwise (its normalisation maps digits to 0)
    tok = whitespace_tokenizer()
    # NGramsDecontIndexer.compute_hashes for label-only texts; the class itself cannot be built
    # without lighteval, which it imports to fetch tasks we do not need
    hashes = set()
    for t in texts:
        toks = tok.word_tokenize(simplify_text(t, config.norm_config))
        hashes.update(xxh64(" ".join(g)) for g in ngrams(toks, n))
    np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(folder / "bench.index.hashes")
    filt = NGramsDecontFilter(index_folder=str(folder), config=config, language=tok)
    filt.hash_func = xxh64
    filt.load_index_hashes()
    return filt


def spark_stage(paragraphs: list[dict], files: list[Path], n: int) -> dict:
    import pyarrow as pa

    from jobs.decontaminate import build_decontaminate
    from pipeline.config import PipelineConfig, SparkConfig
    from pipeline.dedup.planted import articles_table, write_run
    from pipeline.rundir import RunDir
    from pipeline.spark import get_spark
    from schemas.ingest import PARAGRAPHS

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        write_run(run, pa.Table.from_pylist(paragraphs, schema=PARAGRAPHS),
                  articles_table(p["article_id"] for p in paragraphs))
        spark = get_spark(SparkConfig(master="local[1]", shuffle_partitions=2, show_progress=False,
                                      log_level="ERROR", driver_memory="2g"))
        try:
            for plan, limit in (("broadcast", 2_000_000), ("join", 0)):
                cfg = PipelineConfig.model_validate({"out": str(run.root), "decontaminate": {
                    "benchmarks": [str(f) for f in files], "ngram": n, "broadcast_max_ngrams": limit}})
                build_decontaminate(spark, run, cfg)  # warm-up (JVM, Python workers)
                t0 = time.time()
                figures = build_decontaminate(spark, run, cfg)
                wall = time.time() - t0
                out[plan] = {"wall_s": round(wall, 2), "paragraphs_per_s": round(len(paragraphs) / wall),
                             "paragraphs_flagged": figures["paragraphs_flagged"], "rows": figures["rows"]}
        finally:
            spark.stop()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["/work/shared/data"])
    ap.add_argument("--verbatim", type=int, default=300)
    ap.add_argument("--edited", type=int, default=100)
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--spark", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    n = args.ngram

    paragraphs = sample_paragraphs(args.data)
    verbatim, edited = choose(paragraphs, args.verbatim, args.edited, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        planted = write_planted(Path(tmp) / "bench", verbatim, edited, seed=args.seed)
        items = [i for f in planted.files for i in read_benchmark(f)]
        texts = [t for i in items for t in i.texts]
        index = build_index(items, n)
        pairs_in = [(p["paragraph_id"], p["text"]) for p in paragraphs]

        ours_s, rows = best_cpu(lambda: list(match_rows(pairs_in, index)), args.rounds)
        pairs = {(r[0], r[1], r[2]) for r in rows}
        flagged = {r[0] for r in rows}
        truth = reference_flags(paragraphs, texts, n)
        planted_ids = {p.paragraph_id for p in planted.plants}
        controls = [p["paragraph_id"] for p in paragraphs if p["paragraph_id"] not in planted_ids]
        flagged_controls = [c for c in controls if c in flagged]
        false_flags = [c for c in flagged_controls if c not in truth]
        recall = {kind: sum((p.paragraph_id, p.benchmark, p.item_id) in pairs for p in planted.by_kind(kind))
                  / len(planted.by_kind(kind)) for kind in ("verbatim", "edited")}

        dt_dir = Path(tmp) / "datatrove"
        dt_dir.mkdir()
        from datatrove.data import Document

        filt = datatrove_filter(texts, n, dt_dir)
        docs = [Document(text=t, id=pid) for pid, t in pairs_in]

        def run_datatrove():
            return {d.id for d in docs if filt.filter(d) is not True}

        dt_s, dt_flagged = best_cpu(run_datatrove, args.rounds)
        spark = spark_stage(paragraphs, planted.files, n) if args.spark else None

    result = {
        "paragraphs": len(paragraphs),
        "ngram": n,
        "benchmark_items": len(items),
        "index_ngrams": index.n_ngrams,
        "planted": {"verbatim": len(verbatim), "edited": len(edited)},
        "recall": {k: round(v, 4) for k, v in recall.items()},
        "controls": len(controls),
        "controls_flagged": len(flagged_controls),
        "controls_flagged_real_overlap": len(flagged_controls) - len(false_flags),
        "false_flags": len(false_flags),
        "false_flag_rate": round(len(false_flags) / len(controls), 6),
        "controls_flagged_rate": round(len(flagged_controls) / len(controls), 6),
        "matches_reference_exactly": flagged == truth,
        "speed_per_core": {
            "ours_paragraphs_per_cpu_s": round(len(paragraphs) / ours_s),
            "datatrove_paragraphs_per_cpu_s": round(len(paragraphs) / dt_s),
            "speedup": round(dt_s / ours_s, 2),
        },
        "datatrove": {
            "paragraphs_flagged": len(dt_flagged),
            "recall": {kind: round(sum(p.paragraph_id in dt_flagged for p in planted.by_kind(kind))
                                   / len(planted.by_kind(kind)), 4) for kind in ("verbatim", "edited")},
            "flagged_by_datatrove_only": len(dt_flagged - flagged),
            "flagged_by_ours_only": len(flagged - dt_flagged),
        },
    }
    if spark:
        result["spark_local1"] = spark
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
