"""Paragraph and article filters, and the condition test shared with upsampling (pure Python)."""

from __future__ import annotations

from typing import Any, Iterable

from pipeline.emit.recipe import ARTICLE_FIELDS, ArticleFilter, Condition, ParagraphFilter

Paragraph = dict[str, Any]


def keep_paragraph(p: Paragraph, f: ParagraphFilter) -> bool:
    if f.min_words and (p.get("n_words") or 0) < f.min_words:
        return False
    if f.zones is not None and p.get("zone") not in f.zones:
        return False
    if f.languages is not None and p.get("language") not in f.languages:
        return False
    if f.min_educational_score is not None:
        score = p.get("educational_score")
        if score is None or score < f.min_educational_score:
            return False
    if f.document_types is not None and p.get("document_type") not in f.document_types:
        return False
    if f.domains is not None and p.get("domain") not in f.domains:
        return False
    return True


def filter_paragraphs(paragraphs: Iterable[Paragraph], f: ParagraphFilter) -> list[Paragraph]:
    return [p for p in paragraphs if keep_paragraph(p, f)]


def condition_holds(paragraphs: list[Paragraph], cond: Condition, article: dict[str, Any] | None = None) -> bool:
    """At least ``min_count`` and at least ``min_fraction`` of ``paragraphs`` match. An empty list
    never satisfies a condition (there is nothing to judge). An article field (``languages``)
    holds when at least ``min_count`` (at least one) of ``values`` are in the article's list."""
    if not paragraphs:
        return False
    if cond.field in ARTICLE_FIELDS:
        present = set((article or {}).get(cond.field) or [])
        return len(present.intersection(cond.values)) >= max(cond.min_count, 1)
    hits = sum(1 for p in paragraphs if p.get(cond.field) in cond.values)
    return hits >= cond.min_count and hits / len(paragraphs) >= cond.min_fraction


def keep_article(article: dict[str, Any], paragraphs: list[Paragraph], f: ArticleFilter) -> bool:
    if not paragraphs:
        return False
    if f.exclude_retracted and article.get("retracted"):
        return False
    return all(condition_holds(paragraphs, c, article) for c in f.require)
