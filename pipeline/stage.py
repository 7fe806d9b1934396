"""The stage contract and its one runner.

A stage is declared once (``pipeline/stages.py``)::

    Stage(name="dedup", needs=("paragraphs",), uses=("articles",), writes=("dedup", "dedup_articles"),
          section="dedup", options=(Option("threshold", key="dedup.threshold", ...),),
          build="jobs.dedup:build")

and :func:`run_stage` owns, for every stage alike:

- **preconditions**, checked before Spark starts: every table in ``needs`` is complete, else
  "run `pmc-enrich <producer>` first";
- a **fingerprint**: the stage's name and version, the settings its output depends on (its config
  section, execution knobs left out) and the fingerprints stamped on the markers of its inputs. A
  change of settings or of any upstream output changes it;
- **skip or redo**: a stage whose outputs all carry the current fingerprint is skipped; otherwise it
  is rebuilt (never kept stale), except where the declaration says ``redo="refuse"`` (ingest: a
  changed input set is an error unless ``--overwrite``);
- **atomic publish** (the build writes through :class:`StageContext`, which publishes each table via a
  hidden temporary sibling), **timing**, and one **report** shape, ``reports/<stage>.json``:
  ``{stage, fingerprint, inputs, elapsed_s, skipped, figures}``.

The build function lives in ``jobs/<stage>.py`` (``build(ctx) -> figures``) and is named by a
``"module:function"`` string, so nothing in ``pipeline/`` imports ``jobs/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import MissingStageError, NotARunError, UserError
from pipeline.rundir import MARKER, RunDir, read_table, read_table_arrow, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Option:
    """One command-line option of a stage, declared once for typer, `run` and spark-submit.

    ``key`` is the dotted config key the option sets (options are config overrides, so the
    fingerprint sees them); ``positional`` options are arguments (``ingest INPUT...``).
    """

    name: str
    help: str
    key: str | None = None
    type: type = str
    flags: tuple[str, ...] = ()
    multiple: bool = False
    positional: bool = False
    choices: tuple[str, ...] | None = None
    is_path: bool = False  # resolved against the working directory

    @property
    def cli_flags(self) -> tuple[str, ...]:
        return self.flags or (f"--{self.name.replace('_', '-')}",)


@dataclass(frozen=True)
class Stage:
    name: str
    help: str
    build: str  # "module:function" taking a StageContext, returning a dict of figures
    needs: tuple[str, ...] = ()  # tables that must be complete
    uses: tuple[str, ...] = ()  # tables used when complete (their fingerprints count then)
    writes: tuple[str, ...] = ()  # tables the build may publish (markers stamped with the fingerprint)
    files: tuple[str, ...] = ()  # plain files the build writes, relative to the run (must exist after it)
    section: str | None = None  # config section whose values the output depends on
    settings: Callable[[Any], dict] | None = None  # extra settings the output depends on (cfg → dict)
    options: tuple[Option, ...] = ()
    spark: bool = True  # needs a SparkSession
    creates_run: bool = False  # may start from an empty or missing run directory (ingest, label)
    out_option: bool = False  # the command takes the run directory as --out (ingest) rather than RUN_DIR
    redo: str = "rebuild"  # what a changed fingerprint does: "rebuild" or "refuse"
    version: str = "1"  # bump when the build's output changes for the same settings
    writes_fn: Callable[[Any], tuple[str, ...]] | None = None  # the writes of this config, when they vary
    uses_fn: Callable[[Any], tuple[str, ...]] | None = None  # inputs that depend on the config (variants)
    summary: tuple[str, ...] = ()  # figures printed by the standalone command
    validate: Callable[[Any], None] | None = None  # stage-specific config checks (raise UserError)
    render: str | None = None  # "module:function": the standalone command's text summary of the figures

    def outputs(self, cfg) -> tuple[str, ...]:
        return self.writes_fn(cfg) if self.writes_fn else self.writes

    def build_fn(self) -> Callable[["StageContext"], dict]:
        return _resolve(self.build)

    def render_fn(self) -> Callable[[dict], str] | None:
        return _resolve(self.render) if self.render else None


def _resolve(ref: str) -> Callable:
    """A "module:function" reference (so that nothing in pipeline/ imports jobs/)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


# ------------------------------------------------------------------------------- fingerprints


def _stable(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


def section_settings(section: Any) -> dict[str, Any]:
    """A config section as the dict its outputs depend on: fields marked ``knob`` left out, at any depth."""
    from pydantic import BaseModel

    from pipeline.config.base import EXECUTION

    out: dict[str, Any] = {}
    for name, info in type(section).model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get(EXECUTION):
            continue
        value = getattr(section, name)
        out[name] = section_settings(value) if isinstance(value, BaseModel) else value
    for name, value in (section.model_extra or {}).items():  # pass-through sections (fastText arguments)
        out[name] = value
    return json.loads(_stable(out))


def stage_settings(stage: Stage, cfg) -> dict[str, Any]:
    settings: dict[str, Any] = {"version": stage.version}
    if stage.section:
        settings[stage.section] = section_settings(getattr(cfg, stage.section))
    if stage.settings:
        settings["extra"] = stage.settings(cfg)
    return settings


def input_fingerprints(stage: Stage, run: RunDir, cfg=None) -> dict[str, str | None]:
    """The fingerprint stamped on each input table's marker (``uses`` only when complete)."""
    out: dict[str, str | None] = {}
    extra = stage.uses_fn(cfg) if stage.uses_fn and cfg is not None else ()
    for table in stage.needs + stage.uses + extra:
        marker = run.marker(table)
        if marker is None:
            continue
        out[table] = marker.get("fingerprint") or hashlib.sha256(_stable(marker).encode()).hexdigest()[:16]
    return out


def fingerprint(stage: Stage, cfg, inputs: dict[str, Any]) -> str:
    blob = _stable({"stage": stage.name, "settings": stage_settings(stage, cfg), "inputs": inputs})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------- context


@dataclass
class StageContext:
    """What a build gets: the run, the config, Spark (started on first use), and table IO that
    stamps every published table with the stage's fingerprint."""

    stage: Stage
    run: RunDir
    cfg: Any
    fingerprint: str
    overwrite: bool = False
    progress: bool = True
    spark_factory: Callable[[], Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # in-process objects (an LLM engine, a test hook)
    _spark: Any = None

    @property
    def spark(self):
        if self._spark is None:
            if self.spark_factory is None:
                from pipeline.spark import get_spark

                self._spark = get_spark(self.cfg.spark)
            else:
                self._spark = self.spark_factory()
        return self._spark

    def meta(self, **extra: Any) -> dict[str, Any]:
        return {"stage": self.stage.name, "fingerprint": self.fingerprint, **extra}

    def read(self, table: str):
        """A complete run table as a Spark DataFrame."""
        return read_table(self.spark, self.run, table)

    def read_arrow(self, table: str, columns: list[str] | None = None):
        return read_table_arrow(self.run, table, columns)

    def has(self, table: str) -> bool:
        return self.run.is_complete(table)

    def write(self, df, table: str, *, sort_by: list[str] | None = None, partitions: int | None = None,
              **meta: Any) -> Path:
        from pipeline.rundir import write_spark_table

        return write_spark_table(df, self.run, table, meta=self.meta(**meta), partitions=partitions, sort_by=sort_by)

    def publish(self, tmp: Path, table: str, **meta: Any) -> Path:
        return self.run.publish(tmp, table, self.meta(**meta))


# ------------------------------------------------------------------------------- runner


def producers(stages: list[Stage]) -> dict[str, str]:
    """table → the stage that can write it (``writes`` lists every table a stage may publish)."""
    return {t: s.name for s in stages for t in s.writes}


def check_preconditions(stage: Stage, run: RunDir, cfg, producer_of: dict[str, str]) -> None:
    if not stage.creates_run:
        if not run.root.is_dir():
            raise UserError(f"{run.root}: no such run directory",
                            hint="give the folder that `pmc-enrich ingest --out` or `run` wrote")
        if stage.needs and not run.reports.is_dir() and not any(run.is_complete(t) for t in stage.needs):
            raise NotARunError(run.root)  # nothing any stage wrote: the wrong folder, most likely
    for table in stage.needs:
        if not run.is_complete(table):
            raise MissingStageError(table, producer_of.get(table, table), run.root)


def _is_current(stage: Stage, run: RunDir, cfg, fp: str) -> bool:
    report = run.report(stage.name)
    if not report.exists():
        return False
    try:
        if json.loads(report.read_text()).get("fingerprint") != fp:
            return False
    except ValueError:
        return False
    for table in stage.outputs(cfg):
        marker = run.marker(table)
        if marker is None or marker.get("fingerprint") != fp:
            return False
    return all((run.root / f).exists() for f in stage.files)


def _stamp(run: RunDir, table: str, fp: str, stage: str) -> None:
    """Record the fingerprint on a table the build published by other means (model/, variants/)."""
    marker = run.marker(table)
    if marker is None:
        raise RuntimeError(f"stage {stage} did not publish {table}/")
    if marker.get("fingerprint") != fp or marker.get("stage") != stage:
        write_json_atomic(run.table(table) / MARKER, {**marker, "fingerprint": fp, "stage": stage})


def run_stage(stage: Stage, cfg, *, stages: list[Stage] | None = None, overwrite: bool = False,
              progress: bool = True, spark_factory: Callable[[], Any] | None = None,
              extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one stage under the contract; returns its report (``skipped`` says whether it ran)."""
    from pipeline.stages import STAGES

    if not cfg.out:
        raise UserError("no run directory: give RUN_DIR (or `out` in the config)")
    run = RunDir(cfg.out)
    check_preconditions(stage, run, cfg, producers(stages or STAGES))
    if stage.validate:
        stage.validate(cfg)
    inputs = input_fingerprints(stage, run, cfg)
    fp = fingerprint(stage, cfg, inputs)
    report_path = run.report(stage.name)
    if not overwrite and _is_current(stage, run, cfg, fp):
        report = json.loads(report_path.read_text())
        log.info("[%s] up to date (fingerprint %s): skipped", stage.name, fp)
        return {**report, "skipped": True}
    if not overwrite and stage.redo == "refuse" and report_path.exists():
        previous = json.loads(report_path.read_text()).get("fingerprint")
        if previous and previous != fp:
            raise UserError(f"{run.root} was built by {stage.name} with other inputs or settings",
                            hint="pass --overwrite to rebuild it, or choose another run directory")
    run.root.mkdir(parents=True, exist_ok=True)
    run.clean_temporaries()
    log.info("[%s] running (fingerprint %s)", stage.name, fp)
    ctx = StageContext(stage=stage, run=run, cfg=cfg, fingerprint=fp, overwrite=overwrite, progress=progress,
                       spark_factory=spark_factory, extras=dict(extras or {}))
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if stage.spark and progress:
            from pipeline.progress import spark_progress

            stack.enter_context(spark_progress(ctx.spark, stage.name))  # tasks done/total of what runs
        figures = stage.build_fn()(ctx) or {}
    elapsed = round(time.monotonic() - started, 2)
    for table in stage.outputs(cfg):
        _stamp(run, table, fp, stage.name)
    missing = [f for f in stage.files if not (run.root / f).exists()]
    if missing:
        raise RuntimeError(f"stage {stage.name} did not write {missing}")
    report = {"stage": stage.name, "fingerprint": fp, "inputs": inputs, "elapsed_s": elapsed,
              "skipped": False, "figures": figures}
    write_json_atomic(report_path, report)
    log.info("[%s] done in %.1f s", stage.name, elapsed)
    return report


def stage_report(run: RunDir, name: str) -> dict[str, Any] | None:
    """A stage's last report, or None."""
    path = run.report(name)
    return json.loads(path.read_text()) if path.exists() else None


def figures(run: RunDir, name: str) -> dict[str, Any]:
    """The figures of a stage's last report ({} when it never ran)."""
    report = stage_report(run, name)
    return (report or {}).get("figures") or {}


# ------------------------------------------------------------------------------- entry points


def resolve_cli_value(option: Option, value: Any) -> Any:
    """Paths given on the command line are relative to the working directory."""
    if not option.is_path or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [resolve_cli_value(option, v) for v in value]
    text = str(value)
    return text if "://" in text else str(Path(text).expanduser().resolve())


def stage_config(stage: Stage, run_dir: str | Path | None, values: dict[str, Any], config: str | Path | None,
                 sets: list[str] | None, master: str | None):
    """The config of one stage command: file < --set pairs < the stage's own options."""
    from pipeline.config import load_config, parse_set_options

    overrides: dict[str, Any] = parse_set_options(sets)
    if master:
        overrides["spark.master"] = master
    for option in stage.options:
        value = values.get(option.name)
        if option.multiple and not value:
            value = None
        if value is not None and option.key:
            overrides[option.key] = resolve_cli_value(option, list(value) if option.multiple else value)
    if run_dir is not None:
        overrides["out"] = str(Path(run_dir).expanduser().resolve())
    return load_config(config, overrides)


def render_summary(stage: Stage, report: dict[str, Any]) -> str:
    """What a standalone command prints at the end."""
    head = f"{stage.name}: {'up to date, skipped' if report.get('skipped') else 'done'} in " \
           f"{report.get('elapsed_s')} s (fingerprint {report.get('fingerprint')})"
    if stage.render:
        return head + "\n" + stage.render_fn()(report.get("figures") or {})
    return head + "\n" + json.dumps(summarise(report, stage.summary), indent=2, default=str)


def summarise(report: dict[str, Any], keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a standalone command prints: the report's head and its (chosen or scalar) figures."""
    figs = report.get("figures") or {}
    chosen = {k: figs[k] for k in keys if k in figs} if keys else \
        {k: v for k, v in figs.items() if isinstance(v, (int, float, str, bool)) or v is None}
    return {"stage": report.get("stage"), "skipped": report.get("skipped"), "elapsed_s": report.get("elapsed_s"),
            "fingerprint": report.get("fingerprint"), **chosen}
