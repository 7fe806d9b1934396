"""`pmc-enrich label`: LLM labels for the sample (vLLM offline, any OpenAI-compatible server, or import)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app
from pipeline.commands.common import ConfigOpt, SetOpt, build_config


@app.command()
def label(
    run_dir: Path = typer.Argument(..., help="Run directory (reads sample/, writes labels/ and reports/label.json)."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="vllm (offline engine on this node) | openai (any OpenAI-compatible server) | import (existing labels file)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model id sent to the server, or model path/name for vllm; recorded as the labeller."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="openai: server URL, e.g. http://127.0.0.1:8000/v1 (key from $OPENAI_API_KEY)."),
    path: Optional[str] = typer.Option(None, "--path", help="import: labels file (JSONL or Parquet with text + the four fields)."),
    input: Optional[str] = typer.Option(None, "--input", help="Label this JSONL/Parquet (text[, paragraph_id]) instead of RUN_DIR/sample."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Label only the first N input rows."),
    constraint: Optional[str] = typer.Option(None, "--constraint", help="json_schema (default) | regex (compact form; needed for random-weight models) | none."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="openai: requests in flight (default 64)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="vllm: conversations per llm.chat call (default 2048)."),
    max_model_len: Optional[int] = typer.Option(None, "--max-model-len", help="vllm engine option."),
    gpu_memory_utilization: Optional[float] = typer.Option(None, "--gpu-memory-utilization", help="vllm engine option."),
    tensor_parallel_size: Optional[int] = typer.Option(None, "--tensor-parallel-size", help="vllm engine option."),
    tokenizer_mode: Optional[str] = typer.Option(None, "--tokenizer-mode", help="vllm engine option, e.g. mistral."),
    config_format: Optional[str] = typer.Option(None, "--config-format", help="vllm engine option, e.g. mistral."),
    load_format: Optional[str] = typer.Option(None, "--load-format", help="vllm engine option, e.g. dummy (random weights)."),
    prefix_caching: Optional[bool] = typer.Option(None, "--prefix-caching/--no-prefix-caching", help="vllm: enable_prefix_caching (default on)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar with rate and ETA."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rebuild labels/ even if complete (cached labels are still reused)."),
    config: Optional[Path] = ConfigOpt,
    sets: Optional[list[str]] = SetOpt,
) -> None:
    """Label paragraphs per the rubric (document_type, domain, educational_score, language) with
    output constrained by the label JSON schema (or regex), every response validated, results cached
    in chunks so a killed run resumes without relabelling. Exit code 1 if some paragraphs are left
    pending (server gone): rerun to finish."""
    from pipeline.labeling.runner import label_run
    from pipeline.rundir import RunDir

    options = {"backend": backend, "model": model, "base_url": base_url, "path": path, "input": input,
               "limit": limit, "constraint": constraint, "concurrency": concurrency, "batch_size": batch_size,
               "max_model_len": max_model_len, "gpu_memory_utilization": gpu_memory_utilization,
               "tensor_parallel_size": tensor_parallel_size, "tokenizer_mode": tokenizer_mode,
               "config_format": config_format, "load_format": load_format,
               "enable_prefix_caching": prefix_caching}
    cfg = build_config(config, None, sets, **{f"label.{k}": v for k, v in options.items()})
    report = label_run(RunDir(run_dir), cfg.label, overwrite=overwrite, progress=progress)
    keys = ("backend", "model", "input_rows", "distinct_texts", "cached", "requests", "successes", "ok", "invalid",
            "invalid_final_by_reason", "retries", "failures_by_reason", "paragraphs_per_s", "tokens_per_s",
            "complete")
    typer.echo(json.dumps({k: report.get(k) for k in keys if k in report}, indent=2))
    if not report.get("complete", True):
        raise typer.Exit(1)
