"""Dedup benchmark: signature throughput per core (ours vs datasketch's naive loop vs datatrove),
end-to-end Spark time at several corpus sizes, precision/recall against exact Jaccard.

    python benchmarks/dedup.py --sizes 100000 300000 --master local[2] --out /tmp/dedup-bench

Corpora are built from real paragraphs (tests/data/annotation/reference-labels.jsonl) so that their
duplicate structure does not change with size, as in a real corpus: ~70 % of rows are distinct
texts (the 3,000 originals first, then "variants" of them with a third of the words substituted:
J ≈ 0.02 to the original and to each other, so not duplicates), ~30 % are copies of a random
earlier distinct text: exact copies (cosmetic changes only) or near copies (1–3 word
substitutions / insertions / deletions, or a reordering). Families stay small at every size
(mean size ~1.4 at every N; the largest grows like log N), so the pair work per paragraph is
constant and end-to-end time should grow near-linearly. (Replicating the 3,000 texts N/3,000 times instead would make every
family grow with N, and any pairwise method quadratic.)
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.config import PipelineConfig, SparkConfig  # noqa: E402
from pipeline.dedup.minhash import MinHasher  # noqa: E402
from pipeline.dedup.normalize import normalize  # noqa: E402
from pipeline.dedup.planted import (articles_table, exact_jaccard, paragraphs_table, perturb,  # noqa: E402
                                    write_run)
from pipeline.dedup.shingles import shingle_hashes, shingle_strings  # noqa: E402

log = logging.getLogger("bench.dedup")
REFERENCE = REPO / "tests" / "data" / "annotation" / "reference-labels.jsonl"


def load_all_texts() -> list[str]:
    return [json.loads(line)["text"] for line in REFERENCE.open(encoding="utf-8")]


# ------------------------------------------------------------------------------- signatures/s
def bench_signatures(texts: list[str], naive_docs: int) -> dict:
    cfg = PipelineConfig().dedup
    hasher = MinHasher(cfg.num_perm, cfg.seed, cfg.bands, cfg.rows)
    t = time.perf_counter()
    norms = [normalize(x) for x in texts]
    t_norm = time.perf_counter() - t

    t = time.perf_counter()
    for i in range(0, len(norms), cfg.batch_size):
        hasher.signatures(*shingle_hashes(norms[i:i + cfg.batch_size], cfg.shingle_size))
    t_ours = time.perf_counter() - t

    from datasketch import MinHash
    sub = norms[:naive_docs]
    t = time.perf_counter()
    for norm in sub:  # datasketch's straightforward loop (default sha1_hash32, affine32)
        m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)
        for s in shingle_strings(norm, cfg.shingle_size):
            m.update(s.encode("utf-8"))
    t_naive = time.perf_counter() - t

    out = {
        "docs": len(norms),
        "avg_shingles": float(np.mean([max(len(n.split(" ")) - 4, 0) if n else 0 for n in norms])),
        "normalise_docs_per_s": len(norms) / t_norm,
        "ours_docs_per_s": len(norms) / t_ours,
        "naive_docs_per_s": len(sub) / t_naive,
        "ours_with_normalise_docs_per_s": len(norms) / (t_ours + t_norm),
        "naive_with_normalise_docs_per_s": 1 / (t_naive / len(sub) + t_norm / len(norms)),
    }
    out["datatrove_docs_per_s"] = bench_datatrove(texts[:naive_docs])
    return out


def bench_datatrove(texts: list[str]) -> float | None:
    """datatrove's MinhashDedupSignature (stage 1) on the same texts; includes its normalisation."""
    try:
        from datatrove.data import Document
        from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
        from datatrove.utils.hashing import HashConfig
        from datatrove.utils.text import TextNormConfig
        from peers import whitespace_tokenizer

        tmp = tempfile.mkdtemp(prefix="dt-minhash-")
        step = MinhashDedupSignature(tmp, config=MinhashConfig(
            n_grams=5, num_buckets=16, hashes_per_bucket=8, hash_config=HashConfig(precision=32, hash_fc="sha1"),
            norm_config=TextNormConfig(norm_numbers=False)), language=whitespace_tokenizer())
        docs = [Document(text=x, id=str(i)) for i, x in enumerate(texts)]
        t = time.perf_counter()
        step.run(iter(docs), rank=0, world_size=1)  # writes its bucket files, returns nothing
        elapsed = time.perf_counter() - t
        shutil.rmtree(tmp, ignore_errors=True)
        return len(texts) / elapsed
    except Exception as err:  # report, never fail the benchmark on the optional comparison
        log.warning("datatrove signature step could not run: %r", err)
        return None


# --------------------------------------------------------------------------------- corpora
def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def build_corpus(texts: list[str], size: int, seed: int = 0, copy_share: float = 0.3):
    """(rows, origin): rows (article_id, ordinal, text); origin[i] = the distinct text row i copies
    (itself for a distinct text), so copies of one origin are the planted duplicate families."""
    rng = random.Random(seed)
    rows, origin, distinct = [], [], []
    for i in range(size):
        if distinct and rng.random() < copy_share:
            src = distinct[rng.randrange(len(distinct))]
            roll = rng.random()
            if roll < 0.4:
                text = perturb(rows[src][2], "cosmetic", 0, rng)
            elif roll < 0.9:
                text = perturb(rows[src][2], rng.choice(["substitute", "insert", "delete"]), rng.randint(1, 3), rng)
            else:
                text = perturb(rows[src][2], "reorder", 0, rng)
        else:
            src = i
            base = texts[len(distinct) % len(texts)]
            text = base if len(distinct) < len(texts) else perturb(base, "substitute", max(1, len(base.split()) // 3), rng)
            distinct.append(i)
        rows.append((f"PMC{100000 + i // 8}", i % 8, text))
        origin.append(src)
    return rows, origin


def build_replicated_corpus(texts: list[str], size: int, seed: int = 0):
    """The stress corpus (``--corpus replicated``): the texts repeated size / len(texts) times, every
    further copy an exact, near (1–3 edits) or distinct (a third substituted) variant of its
    source, so each family holds ~size / 3,000 members and pair work grows quadratically."""
    rng = random.Random(seed)
    rows, origin = [], []
    for i in range(size):
        src = i % len(texts)
        text = texts[src]
        if i // len(texts):
            roll = rng.random()
            if roll < 0.3:
                text = perturb(text, "cosmetic", 0, rng)
            elif roll < 0.6:
                text = perturb(text, rng.choice(["substitute", "insert", "delete"]), rng.randint(1, 3), rng)
            else:
                text = perturb(text, "substitute", max(1, len(text.split()) // 3), rng)
        rows.append((f"PMC{100000 + i // 8}", i % 8, text))
        origin.append(src)
    return rows, origin


def pair_quality(run_root: Path, rows, origin, sample: int, cut: float, seed: int = 1) -> dict:
    """Precision / recall at J ≥ cut against exact Jaccard, on samples of pairs:

    - recall: pairs of copies of the same source text (where the true pairs live; families drawn
      in proportion to their number of pairs) with exact J ≥ cut; found = both in the same cluster;
    - precision: (removed paragraph, the paragraph kept for it) pairs with exact J ≥ cut;
    - co-cluster precision (strict): any two members of a cluster with exact J ≥ cut.

    Each is also given for near pairs only (normalised texts differ), since exact copies are
    found by the exact hash alone and would flatter the MinHash part.
    """
    import pyarrow.parquet as pq

    dedup = pq.read_table(run_root / "dedup", columns=["paragraph_id", "cluster_id", "kept_paragraph_id",
                                                       "is_duplicate"]).to_pylist()
    cluster = {r["paragraph_id"]: r["cluster_id"] for r in dedup}
    ids = [f"{a}:{o:05d}" for a, o, _ in rows]
    text = dict(zip(ids, (t for _, _, t in rows)))
    rng = random.Random(seed)
    by_src: dict[int, list[str]] = {}
    for pid, src in zip(ids, origin):
        by_src.setdefault(src, []).append(pid)
    families = [v for v in by_src.values() if len(v) > 1]
    weights = [len(v) * (len(v) - 1) / 2 for v in families]
    truth = [tuple(rng.sample(fam, 2)) for fam in rng.choices(families, weights=weights, k=sample)]
    removed = [(r["paragraph_id"], r["kept_paragraph_id"]) for r in dedup if r["is_duplicate"]]
    removed = rng.sample(removed, min(sample, len(removed)))
    by_cluster: dict[str, list[str]] = {}
    for pid, cid in cluster.items():
        by_cluster.setdefault(cid, []).append(pid)
    multi = [v for v in by_cluster.values() if len(v) > 1]
    co = [tuple(rng.sample(fam, 2)) for fam in rng.choices(multi, weights=[len(v) * (len(v) - 1) / 2 for v in multi],
                                                          k=sample)] if multi else []

    def scored(pairs):
        return [(a, b, exact_jaccard(text[a], text[b]), normalize(text[a]) != normalize(text[b])) for a, b in pairs]

    def share(items):
        return sum(j >= cut for _, _, j, _ in items) / len(items) if items else None

    truth_s, removed_s, co_s = scored(truth), scored(removed), scored(co)
    out = {"cut": cut}
    for label, keep in (("", lambda near: True), ("near_", lambda near: near)):
        pos = [(a, b) for a, b, j, near in truth_s if j >= cut and keep(near)]
        rem = [x for x in removed_s if keep(x[3])]
        cc = [x for x in co_s if keep(x[3])]
        out.update({
            f"{label}recall": sum(cluster[a] == cluster[b] for a, b in pos) / len(pos) if pos else None,
            f"{label}true_pairs": len(pos),
            f"{label}removal_precision": share(rem),
            f"{label}removed_pairs": len(rem),
            f"{label}co_cluster_precision": share(cc),
            f"{label}co_cluster_pairs": len(cc),
        })
    # Every member is ≥ cut to the kept paragraph, so by the triangle inequality of the Jaccard
    # distance any two members are ≥ 2·cut − 1 to each other: the strict misses are pairs of
    # copies of one text that are each close to it, not unrelated texts glued together.
    out["co_cluster_min_jaccard"] = round(min(j for _, _, j, _ in co_s), 4) if co_s else None
    out["co_cluster_bound"] = round(2 * cut - 1, 4)
    return out


# ------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=16)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--naive-docs", type=int, default=600, help="docs timed with the slow loops")
    parser.add_argument("--pr-sample", type=int, default=2000)
    parser.add_argument("--pr-size", type=int, default=20_000, help="corpus size of the quality run (0 = skip)")
    parser.add_argument("--pr-threshold", type=float, default=0.85, help="dedup.threshold of the quality run")
    parser.add_argument("--corpus", choices=["realistic", "replicated"], default="realistic",
                        help="realistic: small families at every size; replicated: the stress corpus")
    parser.add_argument("--out", default=None, help="work folder (default: a temp dir, removed)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j",):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    texts = load_all_texts()
    results: dict = {"signatures": bench_signatures(texts, args.naive_docs), "spark": [], "quality": None,
                     "corpus": args.corpus}
    sig = results["signatures"]
    log.info("signatures: %s", json.dumps(sig))

    work = Path(args.out or tempfile.mkdtemp(prefix="dedup-bench-"))
    if args.sizes:
        from pipeline.stage import run_stage
        from pipeline.stages import BY_NAME
        from pipeline.rundir import RunDir
        from pipeline.spark import get_spark

        spark = get_spark(SparkConfig(master=args.master, shuffle_partitions=args.shuffle_partitions,
                                      driver_memory=args.driver_memory, show_progress=False, log_level="ERROR"))
        cores = spark.sparkContext.defaultParallelism
        def dedup_run(size: int, cfg: PipelineConfig):
            build = build_corpus if args.corpus == "realistic" else build_replicated_corpus
            rows, origin = build(texts, size)
            run = RunDir(work / f"run-{size}-{cfg.dedup.threshold}")
            shutil.rmtree(run.root, ignore_errors=True)
            write_run(run, paragraphs_table(rows), articles_table([r[0] for r in rows]))
            t = time.perf_counter()
            report = run_stage(BY_NAME["dedup"], cfg.model_copy(update={"out": str(run.root)}), overwrite=True,
                               progress=False, spark_factory=lambda: spark)["figures"]
            return run, rows, origin, report, time.perf_counter() - t

        if args.pr_size:
            cfg = PipelineConfig.model_validate({"dedup": {"threshold": args.pr_threshold}})
            run, rows, origin, report, _ = dedup_run(args.pr_size, cfg)
            results["quality"] = pair_quality(run.root, rows, origin, args.pr_sample, args.pr_threshold)
            results["quality"].update(paragraphs=args.pr_size, threshold=args.pr_threshold)
            log.info("quality: %s", results["quality"])
        for k, size in enumerate(args.sizes):
            run, rows, origin, report, elapsed = dedup_run(size, PipelineConfig())
            results["spark"].append({"paragraphs": size, "seconds": round(elapsed, 1), "cores": cores,
                                     "exact_duplicates": report["exact_duplicates"],
                                     "near_duplicates": report["near_duplicates"],
                                     "candidate_pairs": report["lsh"]["candidate_pairs"],
                                     "largest_cluster": report["largest_cluster"], "timings": report["timings"]})
            log.info("spark %d paragraphs: %.1fs %s", size, elapsed, report["timings"])
            if k == 0:
                results["quality_default"] = pair_quality(run.root, rows, origin, args.pr_sample, 0.8)
                results["quality_default"].update(paragraphs=size, threshold=0.8)
                log.info("quality at the default threshold: %s", results["quality_default"])
            del rows, origin
        spark.stop()
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)

    # ---- the table
    lines = [f"corpus: {args.corpus}", "", "| measure | value | ratio |", "|---|---|---|"]
    naive = sig["naive_docs_per_s"]
    lines.append(f"| signatures/s per core, ours (numpy, batch) | {sig['ours_docs_per_s']:.0f} | {sig['ours_docs_per_s'] / naive:.1f}× naive |")
    lines.append(f"| signatures/s per core, datasketch naive `update` loop | {naive:.0f} | 1.0× |")
    if sig.get("datatrove_docs_per_s"):
        lines.append(f"| signatures/s per core, datatrove MinhashDedupSignature (incl. its normalisation) | "
                     f"{sig['datatrove_docs_per_s']:.0f} | {sig['datatrove_docs_per_s'] / naive:.1f}× naive |")
    lines.append(f"| incl. normalisation: ours / naive | {sig['ours_with_normalise_docs_per_s']:.0f} / "
                 f"{sig['naive_with_normalise_docs_per_s']:.0f} | "
                 f"{sig['ours_with_normalise_docs_per_s'] / sig['naive_with_normalise_docs_per_s']:.1f}× |")
    base = results["spark"][0] if results["spark"] else None
    for r in results["spark"]:
        growth = (r["seconds"] / base["seconds"]) / (r["paragraphs"] / base["paragraphs"])
        lines.append(f"| end-to-end Spark, {r['paragraphs']:,} paragraphs ({r['cores']} cores) | {r['seconds']:.0f} s "
                     f"({r['paragraphs'] / r['seconds']:.0f}/s) | time ratio / size ratio = {growth:.2f} |")
    for key in ("quality", "quality_default"):
        q = results.get(key)
        if q:
            lines.append(f"| J ≥ {q['cut']} (threshold {q['threshold']}, {q['paragraphs']:,} paragraphs): recall | "
                         f"{q['recall']:.3f} | {q['true_pairs']} sampled true pairs |")
            lines.append(f"| J ≥ {q['cut']}: removal precision (removed vs kept) | {q['removal_precision']:.3f} | "
                         f"{q['removed_pairs']} sampled removals |")
            lines.append(f"| J ≥ {q['cut']}: co-cluster precision (any two members, strict) | "
                         f"{q['co_cluster_precision']:.3f} | {q['co_cluster_pairs']} sampled pairs; lowest J "
                         f"{q['co_cluster_min_jaccard']} (bound 2·cut−1 = {q['co_cluster_bound']}) |")
            lines.append(f"| J ≥ {q['cut']}, near pairs only (normalised texts differ): recall / precision / "
                         f"co-cluster precision | {_fmt(q['near_recall'])} / {_fmt(q['near_removal_precision'])} / "
                         f"{_fmt(q['near_co_cluster_precision'])} | {q['near_true_pairs']} / {q['near_removed_pairs']} "
                         f"/ {q['near_co_cluster_pairs']} pairs |")
    table = "\n".join(lines)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({**results, "table": table}, indent=2, default=str))


if __name__ == "__main__":
    main()
