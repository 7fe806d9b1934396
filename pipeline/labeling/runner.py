"""Labelling orchestration: inputs → distinct texts → answer-store lookup → backend → each answer
committed as it arrives → ``labels/`` compacted from the store in input order; returns the figures
(the stage runner writes reports/label.json). Pure Python (no Spark): it runs on a GPU node as is."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from pipeline.config.label import LabelConfig
from pipeline.errors import UserError
from pipeline.labeling.cache import AnswerStore
from pipeline.labeling.core import Item, Outcome, Stats, cache_key, text_hash
from pipeline.labeling.inputs import normalised_hash, paragraph_ids_by_text, read_records
from pipeline.labeling.progress import LabelProgress
from pipeline.labeling.prompt import build_messages, prompt_version
from pipeline.labeling.validate import check_fields
from pipeline.rundir import RunDir, write_parquet_atomic
from schemas.labels import LABEL_FIELDS, LABELS, PROB_COLUMNS

log = logging.getLogger(__name__)

STAGE = "labels"
REPORT = "label"


class InputRow(NamedTuple):
    paragraph_id: str | None
    text: str
    round: int | None = None
    strategy: str | None = None


class _StoreSink:
    """Receives final outcomes: commits each to the answer store at once and counts it."""

    def __init__(self, store: AnswerStore, model: str, version: str, progress: LabelProgress):
        self.store, self.model, self.version, self.progress = store, model, version, progress
        self.count = 0

    def __call__(self, outcome: Outcome) -> None:
        self.store.put(outcome, self.model, self.version)
        self.count += 1
        self.progress.update(outcome.ok)


def load_inputs(run: RunDir, cfg: LabelConfig) -> list[InputRow]:
    """Rows to label: ``cfg.input`` (JSONL / Parquet / table folder) or RUN_DIR/sample, with the
    sampling round and strategy when the input has them. Rows without text are skipped with a
    warning."""
    source = Path(cfg.input) if cfg.input else run.table("sample")
    if not cfg.input and not run.is_complete("sample"):
        raise UserError(f"{source} is missing or incomplete",
                        hint=f"run `pmc-enrich sample {run.root}` first (or pass --input FILE)")
    try:
        rows = read_records(source, columns=["paragraph_id", "id", "text", "round", "strategy"])
    except FileNotFoundError as exc:
        raise UserError(str(exc), hint="--input takes a JSONL file, a Parquet file or a table folder") from None
    out, empty = [], 0
    for row in rows:
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            empty += 1
            continue
        pid = row.get("paragraph_id", row.get("id"))
        rnd = row.get("round")
        out.append(InputRow(str(pid) if pid is not None else None, text,
                            int(rnd) if isinstance(rnd, int) and not isinstance(rnd, bool) else None,
                            row.get("strategy") if isinstance(row.get("strategy"), str) else None))
    if empty:
        log.warning("%d input rows without text skipped", empty)
    if cfg.limit is not None:
        out = out[: cfg.limit]
    return out


def make_backend(cfg: LabelConfig, engine: Any = None, sampling_params=None):
    if cfg.backend == "openai":
        from pipeline.labeling.openai_backend import OpenAIBackend

        if not cfg.base_url:
            raise UserError("--backend openai needs --base-url", hint="e.g. --base-url http://127.0.0.1:8000/v1")
        return OpenAIBackend(cfg, cfg.base_url, cfg.model)
    if cfg.backend == "vllm":
        from pipeline.labeling.vllm_backend import VLLMBackend

        return VLLMBackend(cfg, cfg.model, engine=engine, sampling_params=sampling_params)
    raise UserError(f"unknown generating backend {cfg.backend!r}", hint="use vllm, openai or import")


def label_run(run: RunDir, cfg: LabelConfig, *, overwrite: bool = False, engine: Any = None,
              sampling_params=None, backend=None, progress: bool = True) -> dict:
    """Label the run's sample (or ``cfg.input``); returns and writes reports/label.json.

    The ``labels/`` table is published only when every distinct text has a final outcome; if
    some failed at the transport level the report says ``complete: false`` and a rerun finishes
    them (cached results are never re-requested)."""
    # Skipping an up-to-date labels/ and writing reports/label.json belong to the stage runner
    # (pipeline.stage); this returns the figures.
    if cfg.backend == "import":
        return import_labels(run, cfg)
    if not cfg.model:
        raise UserError(f"--backend {cfg.backend} needs --model", hint="the model id the server serves, or a model path for vllm")
    started = time.time()
    version = prompt_version(cfg.max_words)
    rows = load_inputs(run, cfg)
    keys = [cache_key(cfg.model, version, r.text) for r in rows]
    unique: dict[str, str] = {}
    for key, r in zip(keys, rows):
        unique.setdefault(key, r.text)  # identical texts are sent once
    with AnswerStore(Path(cfg.cache_dir) if cfg.cache_dir else run.table("label_cache")) as store:
        cached = store.load(cfg.model, version)
        pending = [Item(k, t, build_messages(t, cfg.max_words)) for k, t in unique.items() if k not in cached]
        log.info("label: %d rows, %d distinct texts, %d cached, %d to label with %s (%s)", len(rows), len(unique),
                 len(unique) - len(pending), len(pending), cfg.backend, cfg.model)

        stats = Stats()
        backend = backend or make_backend(cfg, engine, sampling_params)
        with LabelProgress(len(pending), stats, f"label[{cfg.backend}]", enabled=progress,
                           interval_s=cfg.progress_interval_s) as bar:
            sink = _StoreSink(store, cfg.model, version, bar)
            backend.run(pending, sink, stats)  # every answer is committed as it arrives

        results = store.load(cfg.model, version)
    missing = [k for k in unique if k not in results]
    report = _report(cfg, version, stats, rows, unique, pending, sink.count, started)
    report["cached"] = report["from_cache"] = len(unique) - len(pending)
    report["labeller"] = cfg.model
    report["pending"] = len(missing)
    report["complete"] = not missing
    if missing:
        log.error("%d distinct texts not labelled (%s): rerun to finish them; labels/ not published",
                  len(missing), dict(stats.failures))
    else:
        table = _labels_table(rows, keys, results, cfg.model, version)
        _publish(run, table, {"rows": table.num_rows, "model": cfg.model, "prompt_version": version})
        report.update(_table_summary(table))
    return report


def _labels_table(rows: list[InputRow], keys, results: dict[str, dict], labeller: str, version: str) -> pa.Table:
    """The labels table compacted from the store: one row per input row, in input order (the
    sample's order), so the same inputs and answers give the same table whatever order the
    answers arrived in."""
    out = []
    for row, key in zip(rows, keys):
        r = results[key]
        out.append({
            "paragraph_id": row.paragraph_id, "text": row.text, "text_hash": text_hash(row.text),
            **{f: r[f] for f in LABEL_FIELDS},
            "labeller": labeller, "prompt_version": version, "created_at": r["created_at"],
            "status": r["status"], "invalid_reason": r["invalid_reason"], "raw_response": r["raw_response"],
            **{f: r.get(f) for f in PROB_COLUMNS},
            "round": row.round, "strategy": row.strategy, "source": None,
        })
    return pa.Table.from_pylist(out, schema=LABELS)


def _publish(run: RunDir, table: pa.Table, meta: dict) -> None:
    tmp = run.tmp_path(STAGE)
    write_parquet_atomic(table, tmp / "part-00000.parquet")
    run.publish(tmp, STAGE, meta)


def _table_summary(table: pa.Table) -> dict:
    rows = table.to_pylist()
    ok = [r for r in rows if r["status"] == "ok"]
    dist = {f: dict(sorted(Counter(str(r[f]) for r in ok).items(), key=lambda kv: (-kv[1], kv[0])))
            for f in LABEL_FIELDS}
    return {"rows": len(rows), "ok": len(ok), "valid": len(ok), "invalid": len(rows) - len(ok),
            "invalid_rows_by_reason": dict(Counter(r["invalid_reason"] for r in rows if r["status"] != "ok")),
            "distributions": dist,
            "with_probabilities": sum(1 for r in ok if r.get("document_type_probs") is not None)}


def _report(cfg: LabelConfig, version: str, stats: Stats, rows, unique, pending, finished: int,
            started: float) -> dict:
    secs = stats.label_seconds
    return {
        "stage": REPORT,
        "backend": cfg.backend,
        "model": cfg.model,
        "base_url": cfg.base_url,
        "prompt_version": version,
        "constraint": cfg.constraint,
        "temperature": cfg.temperature,
        "input_rows": len(rows),
        "distinct_texts": len(unique),
        "sent": len(pending),
        "finished_this_run": finished,
        "requests": stats.requests,
        "successes": stats.successes,
        "invalid_final_by_reason": dict(stats.invalid_final),
        "invalid_attempts_by_reason": dict(stats.invalid_attempts),
        "retries": stats.retries,
        "validation_retries": stats.validation_retries,
        "failures_by_reason": dict(stats.failures),
        "http_status": dict(stats.http_status),
        "prompt_tokens": stats.prompt_tokens if stats.tokens_reported else None,
        "completion_tokens": stats.completion_tokens if stats.tokens_reported else None,
        "engine_start_s": stats.engine_start_s,
        "label_seconds": round(secs, 3),
        "paragraphs_per_s": round(finished / secs, 2) if secs > 0 else None,
        "tokens_per_s": (round((stats.prompt_tokens + stats.completion_tokens) / secs, 1)
                         if secs > 0 and stats.tokens_reported else None),
        "completion_tokens_per_s": (round(stats.completion_tokens / secs, 1)
                                    if secs > 0 and stats.tokens_reported else None),
        "elapsed_s": round(time.time() - started, 2),
    }


def import_labels(run: RunDir, cfg: LabelConfig) -> dict:
    """``--backend import``: an existing labels file (JSONL or Parquet with text + the four fields),
    every row validated by the same schema; invalid rows are kept with status invalid, the reason
    and the raw row. paragraph_id comes from the run's paragraphs by text hash (null if none)."""
    if not cfg.path:
        raise UserError("--backend import needs --path FILE", hint="a JSONL or Parquet file with text and the four label fields")
    started = time.time()
    records = read_records(cfg.path)
    labeller = cfg.model or f"import:{Path(cfg.path).name}"
    texts = [r["text"] for r in records if isinstance(r.get("text"), str)]
    ids = paragraph_ids_by_text(run.table("paragraphs"), texts)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    out = []
    for rec in records:
        text = rec.get("text")
        raw = rec.get("_raw") if "_bad_line" in rec else None
        if raw is not None:
            reason = "bad_json"
            checked = None
        elif not isinstance(text, str) or not text.strip():
            reason, checked = "missing_text", None
        else:
            checked = check_fields(rec)
            reason = checked.reason
        label = checked.label if checked else None
        text = text if isinstance(text, str) else ""
        out.append({
            "paragraph_id": ids.get(normalised_hash(text)) if text else None,
            "text": text, "text_hash": text_hash(text),
            **{f: getattr(label, f) if label else None for f in LABEL_FIELDS},
            "labeller": labeller, "prompt_version": "import", "created_at": now,
            "status": "ok" if label else "invalid", "invalid_reason": None if label else reason,
            "raw_response": None if label else (raw if raw is not None else json.dumps(rec, ensure_ascii=False, default=str)),
            **{f: None for f in PROB_COLUMNS}, "round": None, "strategy": None,
            "source": str(rec["source"]) if rec.get("source") else None,
        })
    table = pa.Table.from_pylist(out, schema=LABELS)
    _publish(run, table, {"rows": table.num_rows, "labeller": labeller, "source": str(cfg.path)})
    report = {"stage": REPORT, "backend": "import", "path": str(cfg.path), "labeller": labeller,
              "input_rows": len(records), "matched_paragraph_ids": sum(1 for r in out if r["paragraph_id"]),
              "complete": True, "elapsed_s": round(time.time() - started, 2), **_table_summary(table)}
    log.info("label import: %d rows (%d ok), %d matched to run paragraphs", report["rows"], report["ok"],
             report["matched_paragraph_ids"])
    return report
