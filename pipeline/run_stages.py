"""`run`: every stage in order under the one runner (``pipeline.stage.run_stage``), one Spark session
for all of them. A stage whose outputs carry the current fingerprint is skipped, so a killed run
resumes where it stopped and a changed setting redoes that stage and everything built on it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import UserError
from pipeline.rundir import RunDir, write_json_atomic
from pipeline.stage import run_stage
from pipeline.rounds import ROUND_STAGES
from pipeline.stages import STAGE_NAMES, STAGES

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = REPO / "configs" / "sample.yaml"


def load_run_config(path: str | Path | None, overrides: dict[str, Any] | None = None):
    """The config of a whole run (default: the bundled demo ``configs/sample.yaml``)."""
    from pipeline.config import load_config

    cfg = load_config(Path(path) if path is not None else SAMPLE_CONFIG, overrides)
    source = path or SAMPLE_CONFIG
    if not cfg.out:
        raise UserError(f"{source}: `out` (the run directory) is required", hint="add `out: DIR` or pass --out DIR")
    if not cfg.inputs:
        raise UserError(f"{source}: `inputs` (a list of paths) is required")
    return cfg


def selected_stages(cfg, names: list[str] | None) -> list:
    unknown = sorted(set(names or []) - set(STAGE_NAMES))
    if unknown:
        raise UserError(f"unknown stage(s) {', '.join(unknown)}", hint=f"stages: {' '.join(STAGE_NAMES)}")
    # Every stage by default: decontaminate without benchmark files writes an empty sidecar, so a
    # contamination/ left from earlier settings never keeps dropping paragraphs.
    return [s for s in STAGES if not names or s.name in names]


def _rounds_wanted(cfg) -> bool:
    """Active-learning rounds (pipeline.rounds) when the config asks for more than one round or a budget."""
    return cfg.label.rounds > 1 or cfg.label.budget is not None


def run_pipeline(cfg, *, stages: list[str] | None = None, overwrite: bool = False, progress: bool = True,
                 spark_factory: Callable[[], Any] | None = None, extras: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Run (or resume) the selected stages in order; writes and returns reports/run.json."""
    if not cfg.out:
        raise UserError("config has no `out` run directory")
    chosen = selected_stages(cfg, stages)
    run = RunDir(cfg.out)
    run.root.mkdir(parents=True, exist_ok=True)
    session: list = []

    def shared_spark():
        if not session:
            if spark_factory is not None:
                session.append(spark_factory())
            else:
                from pipeline.spark import get_spark

                session.append(get_spark(cfg.spark))
        return session[0]

    summary: dict[str, Any] = {"run": str(run.root), "stages": {}}
    started = time.monotonic()
    with_rounds = _rounds_wanted(cfg) and {"sample", "label", "train"} <= {s.name for s in chosen}
    for k, stage in enumerate(chosen, 1):
        log.info("run: stage %d/%d %s", k, len(chosen), stage.name)
        if with_rounds and stage.name in ROUND_STAGES:
            if stage.name == "sample":  # the active-learning loop owns sample → label → train
                from pipeline.rounds import run_rounds

                summary["rounds"] = run_rounds(cfg, overwrite=overwrite, progress=progress,
                                               spark_factory=shared_spark, extras=extras)
            ran = any(not r.get(stage.name, {}).get("skipped", True) for r in summary["rounds"]["rounds"])
            report = {**json.loads(run.report(stage.name).read_text()), "skipped": not ran}
        else:
            report = run_stage(stage, cfg, overwrite=overwrite, progress=progress, spark_factory=shared_spark,
                               extras=extras)
        summary["stages"][stage.name] = {"status": "skipped" if report.get("skipped") else "done",
                                         "elapsed_s": report.get("elapsed_s"),
                                         "fingerprint": report.get("fingerprint")}
    summary["elapsed_s"] = round(time.monotonic() - started, 1)
    write_json_atomic(run.report("run"), summary)
    return summary
