"""Typed configuration shared by every stage: one YAML file plus CLI overrides.

Each stage owns one section module; this package only composes them.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import UserError

from pipeline.config.dedup import DedupConfig
from pipeline.config.decontaminate import DecontaminateConfig
from pipeline.config.emit import EmitConfig
from pipeline.config.ingest import IngestConfig
from pipeline.config.label import LabelConfig
from pipeline.config.sample import SampleConfig
from pipeline.config.spark import SparkConfig
from pipeline.config.train import AnnotateConfig, TrainConfig

__all__ = [
    "PipelineConfig",
    "SparkConfig",
    "IngestConfig",
    "DedupConfig",
    "SampleConfig",
    "LabelConfig",
    "TrainConfig",
    "AnnotateConfig",
    "EmitConfig",
    "load_config",
    "apply_overrides",
]


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(default_factory=list)
    out: str | None = None
    spark: SparkConfig = Field(default_factory=SparkConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontaminate: DecontaminateConfig = Field(default_factory=DecontaminateConfig)
    sample: SampleConfig = Field(default_factory=SampleConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    annotate: AnnotateConfig = Field(default_factory=AnnotateConfig)
    emit: EmitConfig = Field(default_factory=EmitConfig)


# Keys whose values are paths (or lists of paths). In a YAML file they are resolved against the
# file's folder; on the command line against the working directory. "maybe" keys hold either a
# path or a name (a recipe name, a table, a tokenizer id) and are resolved only when they look like
# a path.
PATH_KEYS = ("inputs", "out", "label.path", "label.cache_dir", "train.labels", "train.cascade.unlabelled",
             "annotate.model", "emit.recipe_dirs", "decontaminate.benchmarks")
MAYBE_PATH_KEYS = ("label.input", "emit.recipes", "emit.tokenizer")


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.endswith((".yaml", ".yml", ".jsonl", ".json", ".parquet", ".csv", ".gz"))


def _resolve_value(base: Path, value: Any, maybe: bool) -> Any:
    if isinstance(value, list):
        return [_resolve_value(base, v, maybe) for v in value]
    if not isinstance(value, str) or not value or "://" in value or Path(value).is_absolute():
        return value
    if maybe and not _looks_like_path(value):
        return value
    return str((base / value).resolve())


def _get(data: dict[str, Any], dotted: str) -> tuple[dict[str, Any] | None, str]:
    node: Any = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) else None), leaf


def resolve_paths(data: dict[str, Any], base: Path, keys: Any = None) -> dict[str, Any]:
    """Make the path-valued keys of a raw config mapping absolute, relative to ``base``."""
    data = copy.deepcopy(data)
    for dotted in PATH_KEYS + MAYBE_PATH_KEYS:
        if keys is not None and dotted not in keys:
            continue
        parent, leaf = _get(data, dotted)
        if parent is not None and leaf in parent:
            parent[leaf] = _resolve_value(base, parent[leaf], dotted in MAYBE_PATH_KEYS)
    return data


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_fields


def check_keys(data: Any, model: type[BaseModel] = None, where: str = "") -> None:  # type: ignore[assignment]
    """Unknown keys at any depth are an error naming the key and the closest valid one."""
    model = model or PipelineConfig
    if not isinstance(data, dict):
        return
    fields = _fields(model)
    free = model.model_config.get("extra") == "allow"
    for key, value in data.items():
        dotted = f"{where}{key}"
        if key not in fields:
            if free:
                continue
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"did you mean `{where}{close[0]}`?" if close else \
                f"valid keys{' in ' + where.rstrip('.') if where else ''}: {', '.join(sorted(fields))}"
            raise UserError(f"unknown config key `{dotted}`", hint=hint)
        annotation = fields[key].annotation
        sub = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if sub is not None:
            if value is not None and not isinstance(value, dict):
                raise UserError(f"config key `{dotted}` must be a mapping (a section), got {value!r}")
            check_keys(value, sub, f"{dotted}.")


def _validation_error(exc: ValidationError, source: str) -> UserError:
    lines = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        got = err.get("input")
        lines.append(f"`{loc}`: {err['msg']} (got {got!r})")
    more = f" (+{len(exc.errors()) - 5} more)" if len(exc.errors()) > 5 else ""
    return UserError(f"{source}: " + "; ".join(lines) + more)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise UserError(f"config override `{dotted}`: `{key}` is not a section")
    node[leaf] = value


def apply_overrides(cfg: PipelineConfig, overrides: dict[str, Any], source: str = "override") -> PipelineConfig:
    """Return a new config with dotted-key overrides (``{"spark.master": "local[2]"}``) applied.

    ``None`` values are skipped so CLI options left unset never clobber the file.
    """
    data = cfg.model_dump()
    for key, value in overrides.items():
        if value is not None:
            check_keys(_nested(key, value))
            _set_dotted(data, key, value)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, source) from None


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _set_dotted(out, dotted, value)
    return out


def parse_set_options(pairs: list[str] | None) -> dict[str, Any]:
    """Parse repeated ``--set section.key=value`` options; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"--set expects section.key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a mapping, its relative paths resolved against its folder."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: the config must be a YAML mapping (section: values), got a {type(data).__name__}")
    return resolve_paths(data, path.resolve().parent)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The one config loader of every entry point: a YAML file (or defaults) with its relative paths
    resolved against its folder, unknown keys refused, then overrides (whose paths the caller has
    resolved against the working directory) applied and everything validated."""
    data = read_config_file(path) if path is not None else {}
    check_keys(data)
    try:
        cfg = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, str(path) if path else "config") from None
    return apply_overrides(cfg, overrides or {}, source="command line")
