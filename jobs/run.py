"""The whole pipeline in order, resumable: ingest → dedup → sample → label → train → annotate →
emit (every recipe) → catalog → report.

    spark-submit jobs/run.py --config configs/sample.yaml

A stage is skipped when its outputs are complete (``_COMPLETE`` markers and its report) and were
built with the same settings (``_run_settings.json`` holds a fingerprint per stage, chained through
the upstream stages, execution knobs such as batch sizes left out): change ``dedup.threshold`` and
dedup and every later stage are redone, ingest is not. So a run killed at any point resumes where it stopped: finished stages are skipped, the interrupted one
restarts from its own resumable state (every table is published atomically; leftovers of a killed
write, ``.tmp-*`` folders, are removed first). ``overwrite`` redoes every stage.

Relative paths in a config file (inputs, out, label.path, ...) are resolved against the folder
holding the config file; paths given on the command line against the current directory.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from pipeline.config import PipelineConfig, apply_overrides
from pipeline.rundir import RunDir, write_json_atomic

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = REPO / "configs" / "sample.yaml"


class RunError(RuntimeError):
    """A stage cannot run (missing module, bad config); the message says which and why."""


# --------------------------------------------------------------------------- config


def _is_pathlike(value: str) -> bool:
    return "/" in value or value.endswith((".yaml", ".yml", ".jsonl", ".json", ".parquet"))


def _resolve(base: Path, value: Any) -> Any:
    if isinstance(value, str) and value and not Path(value).is_absolute() and "://" not in value:
        return str((base / value).resolve())
    return value


def resolve_config_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the path-valued keys of a raw config mapping absolute, relative to ``base``."""
    data = json.loads(json.dumps(data))  # deep copy
    if isinstance(data.get("inputs"), list):
        data["inputs"] = [_resolve(base, v) for v in data["inputs"]]
    if "out" in data:
        data["out"] = _resolve(base, data["out"])
    for section, keys in {"label": ("path", "cache_dir"), "train": ("labels",), "annotate": ("model",)}.items():
        node = data.get(section)
        if isinstance(node, dict):
            for key in keys:
                if key in node:
                    node[key] = _resolve(base, node[key])
    label = data.get("label")
    if isinstance(label, dict) and isinstance(label.get("input"), str) and _is_pathlike(label["input"]):
        label["input"] = _resolve(base, label["input"])
    emit = data.get("emit")
    if isinstance(emit, dict):
        if isinstance(emit.get("recipe_dirs"), list):
            emit["recipe_dirs"] = [_resolve(base, v) for v in emit["recipe_dirs"]]
        if isinstance(emit.get("recipes"), list):
            emit["recipes"] = [_resolve(base, v) if isinstance(v, str) and _is_pathlike(v) else v
                               for v in emit["recipes"]]
    return data


def load_run_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The config file (default: the bundled demo ``configs/sample.yaml``) with its relative paths
    resolved against its folder, then CLI overrides."""
    path = Path(path) if path is not None else SAMPLE_CONFIG
    if not path.is_file():
        raise RunError(f"config file not found: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise RunError(f"{path}: the config must be a YAML mapping")
    cfg = PipelineConfig.model_validate(resolve_config_paths(data, path.resolve().parent))
    cfg = apply_overrides(cfg, overrides or {})
    if not cfg.out:
        raise RunError(f"{path}: `out` (the run directory) is required")
    if not cfg.inputs:
        raise RunError(f"{path}: `inputs` (a list of paths) is required")
    return cfg


# --------------------------------------------------------------------------- stages


@dataclass
class Stage:
    name: str
    outputs: list[str] = field(default_factory=list)  # tables whose markers prove completion
    spark: bool = True
    report: bool = True  # completion also needs reports/<name>.json

    def module(self):
        try:
            return importlib.import_module(f"jobs.{self.name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"jobs.{self.name}":
                raise RunError(f"stage {self.name!r} is not available: jobs/{self.name}.py is missing") from None
            raise

    def entry(self) -> Callable[..., dict]:
        fn = getattr(self.module(), f"run_{self.name}", None)
        if fn is None:
            raise RunError(f"jobs/{self.name}.py has no run_{self.name}()")
        return fn


STAGES = [
    Stage("ingest", ["articles", "paragraphs", "quarantine", "superseded"]),
    Stage("dedup", ["dedup", "dedup_articles"]),
    Stage("sample", ["sample"]),
    Stage("label", ["labels"], spark=False),
    Stage("train", ["model"]),
    Stage("annotate", ["annotations"]),
    Stage("emit"),
    Stage("catalog", spark=False, report=False),
    Stage("report", spark=False, report=False),
]
STAGE_NAMES = [s.name for s in STAGES]


def stage_complete(stage: Stage, run: RunDir, cfg: PipelineConfig) -> bool:
    """True when the stage has nothing left to do."""
    if stage.name == "emit":
        from jobs.emit import pending_recipes

        return not pending_recipes(run, cfg) and run.report("emit").exists()
    if stage.name == "catalog":
        from pipeline.catalog import CATALOG_FILE, _stale

        return not _stale(run, run.root / CATALOG_FILE)
    if stage.name == "report":
        html = run.reports / "report.html"
        catalog = run.root / "catalog.duckdb"
        return html.exists() and catalog.exists() and html.stat().st_mtime >= catalog.stat().st_mtime
    done = all(run.is_complete(t) for t in stage.outputs)
    return done and (not stage.report or run.report(stage.name).exists())


# Settings that change how a stage runs, never what it writes: changing them does not redo the stage.
EXECUTION_KNOBS: dict[str, set[str]] = {
    "ingest": {"parse_partitions", "partition_mb", "files_per_chunk", "concurrent_inputs", "rows_per_file",
               "overwrite"},
    # The label cache defines a label as (model, prompt version, text): generation settings do not
    # invalidate cached labels, so they would "redo" the stage without changing a single label.
    "label": {"base_url", "api_key_env", "concurrency", "timeout_s", "max_retries", "backoff_base_s",
              "backoff_max_s", "abort_after_failures", "batch_size", "tensor_parallel_size",
              "gpu_memory_utilization", "enable_prefix_caching", "chunk_size", "flush_interval_s", "cache_dir",
              "temperature", "max_tokens", "constraint", "max_invalid_retries"},
    "train": {"transformer.device", "transformer.cpu_threads", "transformer.predict_batch_size"},
    "annotate": {"batch_size", "device", "tokenizer_workers"},
}
# Stages whose outputs carry a settings fingerprint in _run_settings.json. Emit is not one: it
# checks each recipe's freshness itself (recipe, settings and input markers), so a new recipe
# emits only that recipe; catalog and report check their own staleness.
FINGERPRINTED = ("ingest", "dedup", "sample", "label", "train", "annotate")
SETTINGS_FILE = "_run_settings.json"  # in the run directory: the settings fingerprint each stage was built with


def _without(data: dict[str, Any], dotted: set[str]) -> dict[str, Any]:
    data = json.loads(json.dumps(data, default=str))
    for key in dotted:
        node, *path = key.split(".")
        parent, leaf = (data, node) if not path else (data.get(node) or {}, path[-1])
        parent.pop(leaf, None)
    return data


def stage_settings(name: str, cfg: PipelineConfig) -> dict[str, Any]:
    """The settings a stage's outputs depend on (its own section, execution knobs left out)."""
    if name == "dedup":
        from pipeline.config.dedup import DEDUP_VERSION

        return {"version": DEDUP_VERSION, "enabled": cfg.dedup.enabled, **cfg.dedup.params()}
    section = getattr(cfg, name, None)
    own = _without(section.model_dump(), EXECUTION_KNOBS.get(name, set())) if section is not None else {}
    return {"inputs": sorted(cfg.inputs), **own} if name == "ingest" else own


def stage_fingerprint(name: str, cfg: PipelineConfig, upstream: str) -> str:
    """A stage's settings fingerprint, chained to its upstream stage's (so an upstream change
    changes every later fingerprint)."""
    import hashlib

    blob = json.dumps({"upstream": upstream, "settings": stage_settings(name, cfg)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stage_fingerprints(cfg: PipelineConfig) -> dict[str, str]:
    """The fingerprints of a run built entirely with ``cfg``."""
    out, chain = {}, ""
    for name in FINGERPRINTED:
        chain = out[name] = stage_fingerprint(name, cfg, chain)
    return out


def _call(stage: Stage, spark, run: RunDir, cfg: PipelineConfig, overwrite: bool) -> dict:
    if stage.name == "catalog":
        from pipeline.catalog import build_catalog

        return build_catalog(run)
    if stage.name == "report":
        from pipeline.report import write_report

        return write_report(run)
    fn = stage.entry()
    kwargs: dict[str, Any] = {}
    params = inspect.signature(fn).parameters
    if "overwrite" in params:
        kwargs["overwrite"] = overwrite
    if "progress" in params:
        kwargs["progress"] = False  # one progress display: the stage bar
    return fn(spark, run, cfg, **kwargs)


def _brief(result: Any) -> dict[str, Any]:
    """A few scalar figures of a stage report for the run summary."""
    if not isinstance(result, dict):
        return {}
    out = {k: v for k, v in result.items() if isinstance(v, (int, float, str, bool)) and k not in ("stage", "run")}
    return dict(list(out.items())[:12])


def run_pipeline(cfg: PipelineConfig, overwrite: bool = False, stages: list[str] | None = None,
                 spark_factory: Callable[[], Any] | None = None, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every stage of ``stages`` (default all) in order; returns reports/run.json."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if not cfg.out:
        raise RunError("config has no `out` run directory")
    selected = [s for s in STAGES if stages is None or s.name in stages]
    unknown = set(stages or []) - set(STAGE_NAMES)
    if unknown:
        raise RunError(f"unknown stage(s) {sorted(unknown)}; stages: {STAGE_NAMES}")
    run = RunDir(cfg.out)
    run.root.mkdir(parents=True, exist_ok=True)
    run.clean_temporaries()  # leftovers of a killed run are never tables: drop them

    spark = None

    def get_spark():
        nonlocal spark
        if spark is None:
            if spark_factory is not None:
                spark = spark_factory()
            else:
                from pipeline.spark import get_spark as factory

                spark = factory(cfg.spark)
        return spark

    config_fingerprints = stage_fingerprints(cfg)  # a run built entirely with this config
    selected_names = {s.name for s in selected}
    settings_path = run.root / SETTINGS_FILE
    built_with: dict[str, str] = json.loads(settings_path.read_text()) if settings_path.exists() else {}
    summary: dict[str, Any] = {"run": str(run.root), "stages": {}}
    started = time.time()
    with logging_redirect_tqdm(), tqdm(total=len(selected), unit="stage", desc="pmc-enrich run",
                                       disable=not progress, dynamic_ncols=True) as bar:
        for stage in selected:
            bar.set_postfix_str(stage.name)
            t0 = time.time()
            wanted = recorded = None
            changed = False
            if stage.name in FINGERPRINTED:
                k = FINGERPRINTED.index(stage.name)
                upstream = ""
                if k:
                    # Chained to what the upstream stage was actually built with (recorded when it
                    # ran or was kept earlier in this run); an unselected one is used as it is.
                    prev = FINGERPRINTED[k - 1]
                    upstream = built_with.get(prev) or config_fingerprints[prev]
                    if upstream != config_fingerprints[prev] and prev not in selected_names:
                        log.warning("[%s] the settings of %s (or an earlier stage) changed, but it is not among "
                                    "the selected stages: building on its outputs as they are", stage.name, prev)
                wanted = stage_fingerprint(stage.name, cfg, upstream)
                recorded = built_with.get(stage.name)
                changed = recorded is not None and recorded != wanted
            if changed and stage.name == "ingest" and not overwrite:
                raise RunError(f"ingest settings or inputs changed since {run.root} was built; ingest is never "
                               "redone implicitly: use a new `out` directory, or --overwrite to rebuild everything")
            if changed:
                log.warning("[%s] settings changed since its outputs were built (or an upstream stage's did): "
                            "redoing it", stage.name)
            if not overwrite and not changed and stage_complete(stage, run, cfg):
                log.info("[%s] complete, skipped", stage.name)
                summary["stages"][stage.name] = {"status": "skipped"}
                if wanted is not None and recorded is None:  # built outside `run`: adopted as they are
                    built_with[stage.name] = wanted
                    write_json_atomic(settings_path, built_with)
            else:
                log.info("[%s] running", stage.name)
                result = _call(stage, get_spark() if stage.spark else None, run, cfg, overwrite or changed)
                if stage.name == "label" and isinstance(result, dict) and result.get("complete") is False:
                    raise RunError("label: some paragraphs are not labelled yet (see reports/label.json); "
                                   "rerun `pmc-enrich run` to finish them")
                elapsed = round(time.time() - t0, 1)
                log.info("[%s] done in %.1fs", stage.name, elapsed)
                summary["stages"][stage.name] = {"status": "done", "seconds": elapsed, **_brief(result)}
                if wanted is not None:
                    built_with[stage.name] = wanted
                    write_json_atomic(settings_path, built_with)
            bar.update(1)
    summary["seconds"] = round(time.time() - started, 1)
    write_json_atomic(run.report("run"), summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import stage_parser
    from pipeline.config import parse_set_options
    from pipeline.logs import setup_logging

    args = stage_parser("Run every pmc-enrich stage in order (resumable); the config names the run "
                        "directory (default config: configs/sample.yaml).", run_dir=None).parse_args(argv)
    setup_logging()
    overrides = {**parse_set_options(args.sets), **({"spark.master": args.master} if args.master else {})}
    print(json.dumps(run_pipeline(load_run_config(args.config, overrides), overwrite=args.overwrite), indent=2))


if __name__ == "__main__":
    main()
