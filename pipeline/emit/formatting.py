"""Turning kept paragraphs into the text of one row, and the metadata prefix (pure Python).

Prefix format (ours): a single line rendered from the recipe's template, by default

    <|meta|> type: clinical_case, study | domain: clinical | educational: 3.7 | lang: en <|/meta|>

followed by the text. Lists are comma-joined, most frequent first (ties by name); a missing value
renders as ``unknown``; the educational score is the mean over the row's paragraphs, one decimal.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipeline.emit.recipe import Format

UNKNOWN = "unknown"


def ranked_values(paragraphs: list[dict[str, Any]], field: str) -> list[str]:
    """Distinct non-null values of ``field``, most frequent first, ties by name."""
    counts = Counter(p.get(field) for p in paragraphs if p.get(field) is not None)
    return [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def mean_score(paragraphs: list[dict[str, Any]]) -> float | None:
    scores = [float(p["educational_score"]) for p in paragraphs if p.get("educational_score") is not None]
    return sum(scores) / len(scores) if scores else None


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return UNKNOWN
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_prefix(template: str, article: dict[str, Any], paragraphs: list[dict[str, Any]],
                  paragraph: dict[str, Any] | None = None) -> str:
    """Fill the template for an article row (``paragraph`` None) or a paragraph row."""
    scope = [paragraph] if paragraph is not None else paragraphs
    section = None
    if paragraph is not None and paragraph.get("section_path"):
        section = paragraph["section_path"][-1]
    values = {
        "article_id": article.get("article_id"),
        "paragraph_id": paragraph.get("paragraph_id") if paragraph is not None else None,
        "title": article.get("title"),
        "journal": article.get("journal"),
        "year": article.get("year"),
        "license": article.get("license"),
        "language": (paragraph or {}).get("language") or article.get("language"),
        "languages": list(article.get("languages") or []),
        "document_types": ranked_values(scope, "document_type"),
        "domains": ranked_values(scope, "domain"),
        "educational_score": mean_score(scope),
        "n_paragraphs": len(scope),
        "section": section,
    }
    return template.format(**{k: _text(v) for k, v in values.items()})


def article_text(article: dict[str, Any], paragraphs: list[dict[str, Any]], fmt: Format) -> str:
    """Paragraphs in reading order; a section title line whenever the innermost section changes
    (when asked); the title first (when asked)."""
    parts: list[str] = []
    if fmt.title and article.get("title"):
        parts.append(article["title"])
    current: str | None = None
    for p in paragraphs:
        if fmt.section_titles:
            path = p.get("section_path") or []
            section = path[-1] if path else None
            if section and section != current:
                parts.append(section)
            current = section
        parts.append(p["text"])
    body = fmt.paragraph_separator.join(parts)
    if fmt.prefix:
        body = render_prefix(fmt.prefix, article, paragraphs) + body
    return body


def paragraph_text(article: dict[str, Any], paragraph: dict[str, Any], fmt: Format) -> str:
    text = paragraph["text"]
    if fmt.section_titles and paragraph.get("section_path"):
        text = paragraph["section_path"][-1] + fmt.paragraph_separator + text
    if fmt.prefix:
        text = render_prefix(fmt.prefix, article, [paragraph], paragraph) + text
    return text
