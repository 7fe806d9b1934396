"""Measure the label stage: paragraphs/s, tokens/s and validity, against any OpenAI-compatible
endpoint or the offline vLLM engine, through the stage's own code (label_run) on a fresh cache.

    # a server (vllm serve, SGLang, llama.cpp, hosted):
    python benchmarks/label.py --backend openai --base-url http://127.0.0.1:8000/v1 --model M -n 3000 --concurrency 256
    # the offline engine on this GPU node:
    python benchmarks/label.py --backend vllm --model /models/M --max-model-len 4096 -n 3000 --batch-size 3000
    # the client's own ceiling (no GPU): a built-in endpoint that answers after --mock-latency seconds
    python benchmarks/label.py --backend openai --mock-latency 2.5 -n 1500 --concurrency 256
    # ... with token log-probabilities in every answer (the cost of keeping the confidence)
    python benchmarks/label.py --backend openai --mock-latency 0 --mock-logprobs -n 3000 --concurrency 64
    # the durable answer cache alone: answers/s committed one by one, rows/s read back
    python benchmarks/label.py --cache-only -n 20000

With an input carrying reference labels (default: tests/data/annotation/reference-labels.jsonl) it
also reports agreement with them (meaningless for random-weight models).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.config.label import LabelConfig  # noqa: E402
from pipeline.labeling.inputs import read_records  # noqa: E402
from pipeline.labeling.runner import label_run  # noqa: E402
from pipeline.logs import setup_logging  # noqa: E402
from pipeline.rundir import RunDir  # noqa: E402
from schemas.labels import LABEL_FIELDS  # noqa: E402

MOCK_LABEL = '{"document_type":"study","domain":"biomedical","educational_score":3,"language":"en"}'
# The same label as tokens with top-5 alternatives (the shape vllm serve returns for logprobs=true)
MOCK_TOKENS = ['{"', "document", "_type", '":"', "study", '","', "domain", '":"', "bio", "medical", '","',
               "educational", "_score", '":', "3", ',"', "language", '":"', "en", '"}']


def _mock_logprobs() -> dict:
    alternatives = {"study": ["study", "review", "clinical", "other", "st"], "bio": ["bio", "clinical", "other", "b", "c"],
                    "3": ["3", "2", "4", "1", "5"]}
    content = []
    for tok in MOCK_TOKENS:
        alts = alternatives.get(tok, [tok, tok + " ", " ", "x", "y"])
        content.append({"token": tok, "logprob": -0.1, "bytes": list(tok.encode()),
                        "top_logprobs": [{"token": a, "logprob": -0.1 - i, "bytes": list(a.encode())}
                                         for i, a in enumerate(alts)]})
    return {"content": content}


def start_mock_server(latency: float, logprobs: bool = False) -> str:
    """A minimal keep-alive HTTP/1.1 chat-completions endpoint (asyncio, in a thread)."""
    choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": MOCK_LABEL}}
    if logprobs:
        choice["logprobs"] = _mock_logprobs()
    body = json.dumps({"choices": [choice], "usage": {"prompt_tokens": 950, "completion_tokens": 56}}).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    ready, port = threading.Event(), []

    async def handle(reader, writer):
        try:
            while True:
                headers = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in headers.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                await asyncio.sleep(latency)
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    ready.wait(10)
    return f"http://127.0.0.1:{port[0]}/v1"


def cache_throughput(n: int) -> dict:
    """The answer store alone: ``n`` valid answers committed one per transaction (as the runner
    does), then read back; with probabilities, as a logprobs backend stores them."""
    from pipeline.labeling.cache import AnswerStore
    from pipeline.labeling.core import Outcome
    from schemas.labels import ParagraphLabel

    label = ParagraphLabel(document_type="study", domain="biomedical", educational_score=3, language="en")
    probs = {"document_type_probs": [0.1, 0.7, 0.1, 0.1], "domain_probs": [0.2, 0.7, 0.1],
             "educational_score_probs": [0.05, 0.15, 0.5, 0.25, 0.05], "educational_score_expected": 3.1}
    outcomes = [Outcome(f"{i:040x}", label, attempts=1, prompt_tokens=950, completion_tokens=56, probs=probs)
                for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="label-cache-bench-") as tmp:
        with AnswerStore(tmp) as store:
            t0 = time.perf_counter()
            for o in outcomes:
                store.put(o, "m", "v")
            put_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            rows = store.load("m", "v")
            load_s = time.perf_counter() - t0
    return {"cache_answers": n, "cache_answers_per_s": round(n / put_s), "cache_put_us": round(1e6 * put_s / n, 1),
            "cache_load_rows_per_s": round(len(rows) / load_s)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["openai", "vllm"], default="openai")
    p.add_argument("--base-url")
    p.add_argument("--model", default="mock")
    p.add_argument("--input", default=str(REPO / "tests/data/annotation/reference-labels.jsonl"))
    p.add_argument("-n", type=int, default=3000)
    p.add_argument("--constraint", default="regex", choices=["regex", "json_schema", "none"])
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--mock-latency", type=float, help="start a built-in endpoint answering after this many seconds")
    p.add_argument("--mock-logprobs", action="store_true", help="the built-in endpoint returns token logprobs")
    p.add_argument("--logprobs", type=int, default=5, help="top_logprobs asked for (0: off)")
    p.add_argument("--cache-only", action="store_true", help="measure the answer cache alone (-n answers)")
    for opt in ("tokenizer-mode", "config-format", "load-format"):
        p.add_argument(f"--{opt}")
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--out", help="also write the JSON result here")
    args = p.parse_args()
    setup_logging()
    if args.cache_only:
        result = cache_throughput(args.n)
        print(json.dumps(result, indent=2))
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        return

    base_url = (start_mock_server(args.mock_latency, args.mock_logprobs) if args.mock_latency is not None
                else args.base_url)
    cfg = LabelConfig(backend=args.backend, model=args.model, base_url=base_url, input=args.input, limit=args.n,
                      constraint=args.constraint, concurrency=args.concurrency, batch_size=args.batch_size,
                      max_tokens=args.max_tokens, tokenizer_mode=args.tokenizer_mode,
                      config_format=args.config_format, load_format=args.load_format,
                      max_model_len=args.max_model_len, gpu_memory_utilization=args.gpu_memory_utilization,
                      tensor_parallel_size=args.tensor_parallel_size, logprobs=args.logprobs)
    with tempfile.TemporaryDirectory(prefix="label-bench-") as tmp:
        run = RunDir(tmp)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        report = label_run(run, cfg, progress=False)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        agreement = {}
        if report.get("complete"):
            import pyarrow.parquet as pq

            got = pq.read_table(run.table("labels")).to_pylist()
            ref = read_records(args.input)[: args.n]
            if ref and all(f in ref[0] for f in LABEL_FIELDS):
                agreement = {f: round(sum(g[f] == r[f] for g, r in zip(got, ref)) / len(got), 3) for f in LABEL_FIELDS}
    result = {
        "backend": args.backend, "model": args.model, "base_url": base_url, "constraint": args.constraint,
        "paragraphs": report["distinct_texts"], "paragraphs_per_s": report["paragraphs_per_s"],
        "tokens_per_s": report["tokens_per_s"], "completion_tokens_per_s": report["completion_tokens_per_s"],
        "prompt_tokens_per_paragraph": (round(report["prompt_tokens"] / report["requests"], 1)
                                        if report["prompt_tokens"] else None),
        "completion_tokens_per_paragraph": (round(report["completion_tokens"] / report["requests"], 1)
                                            if report["completion_tokens"] else None),
        "valid": report.get("ok"), "invalid": report.get("invalid"),
        "with_probabilities": report.get("with_probabilities"),
        "invalid_by_reason": report["invalid_final_by_reason"], "retries": report["retries"],
        "engine_start_s": report["engine_start_s"], "label_seconds": report["label_seconds"],
        "client_cpu_ms_per_request": round(1000 * cpu / max(1, report["requests"]), 2),
        "wall_s": round(wall, 2), "agreement_with_input_labels": agreement,
        "label_distribution": {f: dict(Counter(report.get("distributions", {}).get(f, {})).most_common(5))
                               for f in LABEL_FIELDS},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
