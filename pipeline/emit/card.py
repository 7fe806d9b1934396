"""The dataset card (``README.md``) of a variant folder, Hugging Face conventions (pure Python).

Its YAML header declares ``configs`` so that ``datasets.load_dataset(VARIANT)`` never merges the
licence groups: the default config has one split per licence group (``commercial``,
``noncommercial``, and ``*_validation`` when a hold-out exists), and the configs ``commercial`` and
``noncommercial`` each give ``train`` (+ ``validation``). Only Parquet shards are named, so the
marker, manifest, mixture file and other formats are never read as data; an empty split is not
declared (``datasets`` refuses a split without rows).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import yaml

from pipeline.emit.layout import VALIDATION
from schemas.variants import SHARD_ROWS

_FEATURE_NOTES = {
    "id": "unique row id, `<article_id or paragraph_id>#<copy_index>`",
    "text": "the training text (metadata prefix included when the recipe has one)",
    "article_id": "PMCID of the source article",
    "paragraph_id": "source paragraph (paragraph rows only)",
    "license": "the article's licence as declared in its JATS",
    "commercial": "whether the licence allows commercial use (decides the split)",
    "language": "the row's language (paragraph rows: the confident paragraph language, else the article's)",
    "languages": "every language of the article (declared xml:lang + confident running text)",
    "journal": "journal title",
    "year": "publication year",
    "document_types": "student-predicted document types present, most frequent first",
    "domains": "student-predicted domains present, most frequent first",
    "educational_score": "mean student-predicted educational score (1-5) of the row's paragraphs",
    "n_paragraphs": "paragraphs in the row",
    "n_tokens": "tokens of `text` with the tokenizer named below (no special tokens)",
    "upsample_factor": "copies written (copies mode) or the sampling weight factor (weights mode)",
    "upsample_rules": "recipe rules that matched",
    "copy_index": "0 .. copies - 1",
}


def _type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return f"list<{_type(t.value_type)}>"
    return {"float": "float32"}.get(str(t), str(t))


def data_configs(rows: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The ``configs:`` entries. ``rows`` maps each licence split to its ``{"train": n, "validation":
    n}`` row counts; only non-empty ones are declared (``datasets`` refuses a split without data)."""
    default = []
    per_split = []
    for split, counts in rows.items():
        files = []
        if counts.get("train"):
            default.append({"split": split, "path": f"{split}/train-*.parquet"})
            files.append({"split": "train", "path": f"{split}/train-*.parquet"})
        if counts.get(VALIDATION):
            default.append({"split": f"{split}_validation", "path": f"{split}/{VALIDATION}-*.parquet"})
            files.append({"split": "validation", "path": f"{split}/{VALIDATION}-*.parquet"})
        if files:
            per_split.append({"config_name": split, "data_files": files})
    return [{"config_name": "default", "default": True, "data_files": default}] + per_split


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if rows < limit:
            return name
    return "10M<n<100M"


def render_card(manifest: dict[str, Any]) -> str:
    """README.md for a variant, from its manifest."""
    splits = manifest["splits"]
    languages = sorted({lang for s in splits.values() for lang in (s.get("languages") or {})})
    header = {
        "pretty_name": f"pmc-enrich {manifest['variant']}",
        "license": "other",
        "license_name": "per-article-creative-commons",
        "license_details": "Each row keeps its article's licence (column `license`). Split `commercial` holds "
                           "articles whose licence allows commercial use; `noncommercial` the others "
                           "(NC clauses or unknown). Never train a commercial model on `noncommercial`.",
        "language": languages or None,
        "task_categories": ["text-generation"],
        "tags": ["biomedical", "pubmed-central", "pretraining", "pmc-enrich"],
        "size_categories": [_size_category(manifest["totals"]["rows"])],
        "configs": data_configs({s: {"train": v["rows"] - v.get("validation_rows", 0),
                                     VALIDATION: v.get("validation_rows", 0)} for s, v in splits.items()}),
    }
    header = {k: v for k, v in header.items() if v is not None}
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {manifest['variant']}", "", manifest["recipe"].get("description") or "", "",
             "Pretraining text from PubMed Central Open Access articles, built by pmc-enrich "
             f"(recipe `{manifest['variant']}`, fingerprint `{manifest.get('fingerprint')}`).", "",
             "```python", "import datasets",
             f"path = \"variants/{manifest['variant']}\"  # this folder (or its Hub repository)",
             "ds = datasets.load_dataset(path)  # splits: "
             + ", ".join(c["split"] for c in header["configs"][0]["data_files"]),
             "com = datasets.load_dataset(path, \"commercial\")  # train (+ validation): commercial use only",
             "```", "", "## Counts", "",
             "| split | articles | paragraphs | rows | unique rows | tokens | effective tokens | validation rows |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in splits.items():
        lines.append(f"| {name} | {s['articles']} | {s['paragraphs']} | {s['rows']} | {s['unique_rows']} | "
                     f"{s['tokens']} | {s.get('effective_tokens', s['tokens'])} | {s.get('validation_rows', 0)} |")
    tok = manifest.get("tokenizer_info") or {}
    lines += ["", f"Tokens counted with **{manifest['tokenizer']}**"
              + (f" (`{tok.get('path')}`, sha256 `{tok.get('sha256')}`)" if tok.get("sha256") else "") + ".",
              f"Upsampling: `{manifest['recipe']['upsample'].get('mode', 'copies')}`"
              " (copies: repeated rows are written; weights: see `mixture.json`).", "",
              "## Licences", "", "| split | licence | articles |", "|---|---|---|"]
    for name, s in splits.items():
        for lic, n in sorted((s.get("licenses") or {}).items()):
            lines.append(f"| {name} | {lic} | {n} |")
    c = manifest.get("contamination") or {}
    lines += ["", "## Benchmark contamination", "",
              f"contamination/ table: {c.get('table', 'absent')}; policy: {c.get('policy')}; "
              f"flagged paragraphs in scope: {c.get('flagged_paragraphs', 0)}; "
              f"dropped: {c.get('dropped_paragraphs', 0)}.",
              "", "## Features", "", "| column | type | meaning |", "|---|---|---|"]
    for field in SHARD_ROWS:
        lines.append(f"| {field.name} | {_type(field.type)} | {_FEATURE_NOTES.get(field.name, '')} |")
    lines += ["", "## Provenance", "",
              f"- labellers (LLM): {', '.join(manifest.get('labellers') or []) or 'none'}",
              f"- prompt versions: {', '.join(manifest.get('prompt_versions') or []) or 'none'}",
              f"- students (annotations): {', '.join(manifest.get('classifier_versions') or []) or 'none'}",
              f"- formats: {', '.join(manifest.get('formats') or ['parquet'])}",
              f"- seed: {manifest.get('seed')}; source run: `{manifest.get('source_run')}`", "",
              "## Recipe", "", "```yaml", yaml.safe_dump(manifest["recipe"], sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)
