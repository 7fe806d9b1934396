"""`pmc-enrich run`: every stage in order from one YAML config, resumable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipeline.commands import app

SetOpt = typer.Option(None, "--set", help="Override any config key: --set dedup.threshold=0.85 (repeatable).")


@app.command()
def run(
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", exists=True, dir_okay=False,
        help="YAML config (inputs, out, label, stage sections). Default: the bundled demo configs/sample.yaml. "
             "Relative paths inside it are resolved against its folder."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (overrides `out`; relative to the CWD)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="LLM labelling backend: vllm | openai | import."),
    llm_base_url: Optional[str] = typer.Option(
        None, "--llm-base-url", help="OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1 (implies --backend openai)."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", help="Model id (openai) or path (vllm) of the labeller."),
    stage: Optional[list[str]] = typer.Option(
        None, "--stage", help="Only these stages (repeatable): ingest dedup decontaminate sample label train annotate "
                              "emit catalog report."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo every stage even when complete."),
    master: Optional[str] = typer.Option(None, "--master", help="Spark master URL."),
    sets: Optional[list[str]] = SetOpt,
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar (log lines only)."),
) -> None:
    """ingest → dedup → sample → label → train → annotate → emit (every recipe) → catalog → report.
    Each stage is skipped when its outputs are complete, so a killed run resumes where it stopped.
    Ends with RUN_DIR/reports/report.html and reports/run.json."""
    from pipeline.config import parse_set_options
    from pipeline.run_stages import load_run_config, run_pipeline

    if backend is not None and backend not in ("vllm", "openai", "import"):
        raise typer.BadParameter(f"{backend!r} is not one of vllm, openai, import", param_hint="--backend")
    if llm_base_url and backend in ("vllm", "import"):
        raise typer.BadParameter(f"--llm-base-url needs the openai backend, not {backend}", param_hint="--backend")
    overrides = parse_set_options(sets)
    overrides.update({k: v for k, v in {
        "out": str(out.resolve()) if out else None,
        "label.backend": "openai" if llm_base_url and backend is None else backend,
        "label.base_url": llm_base_url,
        "label.model": llm_model,
        "spark.master": master,
    }.items() if v is not None})
    cfg = load_run_config(config, overrides)
    summary = run_pipeline(cfg, overwrite=overwrite, stages=stage, progress=not no_progress)
    typer.echo(json.dumps({"run": summary["run"], "elapsed_s": summary["elapsed_s"],
                           "stages": {k: v["status"] for k, v in summary["stages"].items()},
                           "report": str(Path(summary["run"]) / "reports" / "report.html")}, indent=2))
