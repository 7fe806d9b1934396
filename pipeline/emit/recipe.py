"""Recipe model: a variant is ``filter → upsample → format`` over the deduplicated paragraphs.

A recipe is a YAML file (``configs/recipes/<name>.yaml``) validated by :class:`Recipe`; a user
writes a new one without code. Every mistake (unknown key, unknown document type, a prefix
template naming a field that does not exist) is reported with the file name and the offending key.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import UserError
from schemas.labels import DOCUMENT_TYPES, DOMAINS

BUNDLED_RECIPES = Path(__file__).resolve().parents[2] / "configs" / "recipes"

ConditionField = Literal["document_type", "domain", "language", "zone", "languages"]
# Conditions on the article itself rather than on its paragraphs: ``languages`` is the article's
# list of languages (declared xml:lang + confident running text, from ingest), the reliable way to
# select French articles; a paragraph's ``language`` is null unless the identifier was confident.
ARTICLE_FIELDS = frozenset({"languages"})

OUTPUT_FORMATS = ("parquet", "jsonl", "datatrove", "megatron")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _check_values(field: str, values: list[str]) -> list[str]:
    allowed = {"document_type": DOCUMENT_TYPES, "domain": DOMAINS}.get(field)
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ValueError(f"unknown {field} value(s) {bad}; allowed: {list(allowed)}")
    if field in ("language", "languages"):
        bad = [v for v in values if not re.fullmatch(r"[a-z]{2}", v)]
        if bad:
            raise ValueError(f"language values must be ISO 639-1 codes like 'fr', got {bad}")
    return values


class Condition(BaseModel):
    """A test on an article's kept paragraphs: at least ``min_count`` of them, and at least
    ``min_fraction`` of them, have ``field`` in ``values``. For the article field ``languages`` it
    holds when at least ``min_count`` of ``values`` are among the article's languages."""

    model_config = ConfigDict(extra="forbid")

    field: ConditionField
    values: list[str] = Field(min_length=1)
    min_count: int = Field(1, ge=0)
    min_fraction: float = Field(0.0, ge=0.0, le=1.0)

    _norm = field_validator("values", mode="before")(_as_list)

    @model_validator(mode="after")
    def _valid_values(self) -> "Condition":
        _check_values(self.field, self.values)
        if self.field in ARTICLE_FIELDS and self.min_fraction:
            raise ValueError(f"min_fraction applies to paragraph fields, not to the article field {self.field!r}")
        return self


class ParagraphFilter(BaseModel):
    """Which kept (non-duplicate) paragraphs survive. ``None`` = no constraint. A paragraph with no
    annotation fails any annotation-based constraint (we cannot show it passes)."""

    model_config = ConfigDict(extra="forbid")

    min_educational_score: float | None = Field(None, ge=1, le=5)
    document_types: list[str] | None = None
    domains: list[str] | None = None
    languages: list[str] | None = None
    zones: list[str] | None = None
    min_words: int = Field(0, ge=0)

    _norm = field_validator("document_types", "domains", "languages", "zones", mode="before")(_as_list)

    @model_validator(mode="after")
    def _valid_values(self) -> "ParagraphFilter":
        for field, values in (("document_type", self.document_types), ("domain", self.domains),
                              ("language", self.languages)):
            if values is not None:
                _check_values(field, values)
        return self


class ArticleFilter(BaseModel):
    """Which articles survive, judged on their paragraphs left after the paragraph filter."""

    model_config = ConfigDict(extra="forbid")

    exclude_retracted: bool = True
    require: list[Condition] = Field(default_factory=list, description="every condition must hold")


class UpsampleRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    when: Condition
    factor: int = Field(ge=1, le=1000)


class Upsample(BaseModel):
    """Each matching rule proposes a factor; ``combine`` decides (max by default, so an article
    that is both clinical and a clinical case is repeated ×10, not ×100). ``mode: copies`` writes a
    row ``factor`` times (the paper's form, the default); ``mode: weights`` writes it once, in a
    shard group per factor, and the manifest and ``mixture.json`` carry the sampling weights a
    trainer applies instead (×10 without ×10 disk)."""

    model_config = ConfigDict(extra="forbid")

    rules: list[UpsampleRule] = Field(default_factory=list)
    combine: Literal["max", "product"] = "max"
    max_factor: int = Field(100, ge=1)
    mode: Literal["copies", "weights"] = "copies"


# Fields a prefix template may use, with the example values used to validate a template.
PREFIX_FIELDS: dict[str, str] = {
    "article_id": "PMC123456",
    "paragraph_id": "PMC123456:00003",
    "title": "A case of ...",
    "journal": "BMC Case Reports",
    "year": "2021",
    "license": "CC BY",
    "language": "en",
    "languages": "en, fr",
    "document_types": "clinical_case, study",
    "domains": "clinical",
    "educational_score": "3.7",
    "n_paragraphs": "12",
    "section": "Case presentation",
}

DEFAULT_PREFIX = "<|meta|> type: {document_types} | domain: {domains} | educational: {educational_score} | lang: {language} <|/meta|>\n"


class Format(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: Literal["article", "paragraph"] = "article"
    title: bool = Field(False, description="start an article row with the article title")
    section_titles: bool = Field(False, description="insert a section title line when the section changes")
    paragraph_separator: str = "\n\n"
    prefix: str | None = Field(None, description="metadata prefix template (see docs/emit.md); null = none")

    @field_validator("prefix")
    @classmethod
    def _valid_prefix(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value == "default":
            return DEFAULT_PREFIX
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = sorted(n for n in names if n not in PREFIX_FIELDS)
        if unknown:
            raise ValueError(f"prefix uses unknown field(s) {unknown}; allowed: {sorted(PREFIX_FIELDS)}")
        try:
            value.format(**PREFIX_FIELDS)
        except (ValueError, IndexError, KeyError) as exc:  # e.g. "{}" or a bad format spec
            raise ValueError(f"prefix template does not render: {exc}") from exc
        return value


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    filter: ParagraphFilter = Field(default_factory=ParagraphFilter)
    articles: ArticleFilter = Field(default_factory=ArticleFilter)
    upsample: Upsample = Field(default_factory=Upsample)
    format: Format = Field(default_factory=Format)
    formats: list[Literal["parquet", "jsonl", "datatrove", "megatron"]] = Field(
        default_factory=lambda: ["parquet"],
        description="outputs written; Parquet always (the dataset itself), plus JSONL.gz, datatrove "
                    "tokenized shards (nanotron) and Megatron .bin/.idx, all from the same rows in the same order")
    contamination: Literal["drop", "keep"] | None = Field(
        None, description="paragraphs flagged in contamination/: drop or keep (null: emit.drop_contaminated)")
    validation_fraction: float | None = Field(
        None, ge=0.0, lt=1.0, description="share of articles held out as validation (null: emit.validation_fraction)")

    _norm_formats = field_validator("formats", mode="before")(_as_list)

    @model_validator(mode="after")
    def _parquet_always(self) -> "Recipe":
        # Parquet is the dataset (dataset card, catalog, the source of the other formats).
        self.formats = ["parquet"] + sorted(set(self.formats) - {"parquet"}, key=OUTPUT_FORMATS.index)
        return self

    @property
    def needs_annotations(self) -> bool:
        f = self.filter
        fields = [c.field for c in self.articles.require] + [r.when.field for r in self.upsample.rules]
        # (``languages`` and ``language`` come from ingest, not from annotations)
        return (f.min_educational_score is not None or f.document_types is not None or f.domains is not None
                or any(x in ("document_type", "domain") for x in fields))


class RecipeError(UserError, ValueError):
    """A recipe that cannot be found or does not validate; the message says where and why."""


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)


def parse_recipe(data: Any, origin: str = "<recipe>") -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{origin}: a recipe must be a YAML mapping, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(f"{origin}: invalid recipe\n{_format_errors(exc)}") from None


def resolve_recipe_path(name_or_path: str, search_dirs: list[str | Path] | None = None) -> Path:
    """A path to a YAML file, or a name looked up as ``<dir>/<name>.yaml`` in ``search_dirs`` then
    the bundled ``configs/recipes/``."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise RecipeError(f"recipe file not found: {candidate}")
        return candidate
    dirs = [Path(d) for d in (search_dirs or [])] + [BUNDLED_RECIPES]
    for folder in dirs:
        for suffix in (".yaml", ".yml"):
            path = folder / f"{name_or_path}{suffix}"
            if path.is_file():
                return path
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.y*ml")})
    raise RecipeError(f"unknown recipe {name_or_path!r}; known: {known} (or pass a YAML file path)")


def load_recipe(name_or_path: str, search_dirs: list[str | Path] | None = None) -> Recipe:
    path = resolve_recipe_path(name_or_path, search_dirs)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from None
    return parse_recipe(data, str(path))


def recipe_names(cfg) -> list[str]:
    """The names of the variants ``cfg.emit.recipes`` produce (folder names under variants/)."""
    return [load_recipe(str(r), cfg.emit.recipe_dirs).name for r in cfg.emit.recipes]


def recipes_fingerprint(cfg) -> str:
    """What the variants depend on beyond the emit settings: every recipe's validated content and
    the tokenizer file's sha256 (a retrained tokenizer at the same path re-emits)."""
    import hashlib
    import json

    from pipeline.emit.tokens import tokenizer_digest

    recipes = [load_recipe(str(r), cfg.emit.recipe_dirs).model_dump(mode="json") for r in cfg.emit.recipes]
    blob = json.dumps({"recipes": recipes, "tokenizer": tokenizer_digest(cfg.emit.tokenizer)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
