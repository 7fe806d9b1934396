"""Active-learning rounds: sample → label → train, repeated under a label budget.

Round 0 is the stratified sample (unless labels/ already exists); every later round samples
``sample.size`` new paragraphs with ``sample.strategy`` (uncertainty or diverse) from the student
the previous round trained, labels them (the answer cache makes the rows of earlier rounds free),
and retrains. The loop keeps no state of its own: the next round is one more than the highest round
in labels/, and each stage is skipped by the stage runner when its output is current, so a loop
killed anywhere resumes where it stopped (a label stage cut short resumes from the answer cache).

``label.rounds`` is the number of rounds in all (round 0 included); ``label.budget`` caps the
labelled rows; a round's size is ``sample.size``, the last one cut to what the budget leaves.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from pipeline.errors import UserError
from pipeline.rundir import RunDir

log = logging.getLogger(__name__)

ROUND_STAGES = ("sample", "label", "train")


def labelled_so_far(run: RunDir) -> tuple[int, int]:
    """(rows in labels/, highest round there; -1 without labels/). Rows without a round count as round 0."""
    if not run.is_complete("labels"):
        return 0, -1
    import pyarrow.dataset as ds

    table = ds.dataset(str(run.table("labels")), format="parquet", exclude_invalid_files=True).to_table()
    if table.num_rows == 0:
        return 0, -1
    rounds = table.column("round").to_pylist() if "round" in table.column_names else []
    return table.num_rows, max((r or 0) for r in rounds) if rounds else 0


def check_rounds_config(cfg) -> None:
    if not cfg.sample.size:
        raise UserError("rounds need sample.size: the paragraphs labelled per round",
                        hint="e.g. --set sample.size=250")
    if cfg.label.rounds > 1 and cfg.sample.strategy == "stratified":
        raise UserError("rounds after the first need sample.strategy uncertainty or diverse",
                        hint="--set sample.strategy=uncertainty (round 0 is stratified anyway)")
    if cfg.label.backend == "import":
        raise UserError("rounds need an LLM backend (vllm or openai), not import")


def run_rounds(cfg, *, run_stage: Callable[..., dict] | None = None, overwrite: bool = False,
               progress: bool = True, spark_factory: Callable[[], Any] | None = None,
               extras: dict[str, Any] | None = None) -> dict:
    """Run the rounds; returns ``{"rounds": [per-round figures], "labelled", "budget", "stopped"}``.

    ``run_stage`` defaults to ``pipeline.stage.run_stage`` (called as run_stage(stage, cfg, ...))."""
    from pipeline.stages import BY_NAME

    if run_stage is None:
        from pipeline.stage import run_stage
    if not cfg.out:
        raise UserError("no run directory: give RUN_DIR (or `out` in the config)")
    check_rounds_config(cfg)
    run = RunDir(cfg.out)
    budget, batch = cfg.label.budget, int(cfg.sample.size)
    history: list[dict] = []
    stopped = "rounds"
    while True:
        labelled, last = labelled_so_far(run)
        if last >= 0 and last + 1 < cfg.label.rounds:
            # a loop stopped after labelling resumes with the student of those labels (skipped when current)
            run_stage(BY_NAME["train"], cfg, overwrite=False, progress=progress, spark_factory=spark_factory,
                      extras=extras)
        this_round = last + 1
        if this_round >= cfg.label.rounds:
            break
        if budget is not None and labelled >= budget:
            stopped = "budget"
            break
        size = batch if budget is None else min(batch, budget - labelled)
        strategy = "stratified" if this_round == 0 else cfg.sample.strategy
        rcfg = cfg.model_copy(update={"sample": cfg.sample.model_copy(
            update={"strategy": strategy, "size": size, "fraction": None})})
        log.info("round %d: %s sample of %d (%d labelled so far, budget %s)", this_round, strategy, size, labelled,
                 budget)
        figures: dict[str, Any] = {"round": this_round, "strategy": strategy, "size": size}
        for name in ROUND_STAGES:
            report = run_stage(BY_NAME[name], rcfg, overwrite=overwrite, progress=progress,
                               spark_factory=spark_factory, extras=extras)
            figures[name] = {"skipped": report.get("skipped"), "elapsed_s": report.get("elapsed_s"),
                             "fingerprint": report.get("fingerprint")}
        figures["labelled"], reached = labelled_so_far(run)
        if reached != this_round:  # the label stage published nothing new: stop rather than loop
            raise RuntimeError(f"round {this_round} left labels/ at round {reached}")
        history.append(figures)
        overwrite = False  # --overwrite redoes the first round run now, not every later one
    labelled, _ = labelled_so_far(run)
    return {"rounds": history, "labelled": labelled, "budget": budget, "stopped": stopped}
