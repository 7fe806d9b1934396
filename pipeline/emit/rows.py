"""One article (+ its annotated, non-duplicate paragraphs) → the rows of a variant (pure Python).

This is the whole recipe applied to one article: filter → upsample → format. The Spark job only
gathers each article's paragraphs, calls :func:`build_rows`, repeats each row ``upsample_factor``
times and shuffles.
"""

from __future__ import annotations

from typing import Any

from pipeline.emit.filters import filter_paragraphs, keep_article
from pipeline.emit.layout import TRAIN, VALIDATION, is_validation
from pipeline.emit.formatting import article_text, mean_score, paragraph_text, ranked_values
from pipeline.emit.recipe import Recipe
from pipeline.emit.upsample import upsample_factor


def split_name(commercial: bool | None) -> str:
    """Shards never mix licences: commercial-use articles go to ``commercial/``, the rest
    (non-commercial clauses, unknown licence) to ``noncommercial/``."""
    return "commercial" if commercial else "noncommercial"


def _row(article: dict[str, Any], scope: list[dict[str, Any]], text: str, row_id: str,
         paragraph_id: str | None, factor: int, rules: list[str]) -> dict[str, Any]:
    score = mean_score(scope)
    return {
        "id": row_id,
        "text": text,
        "article_id": article["article_id"],
        "paragraph_id": paragraph_id,
        "split": split_name(article.get("commercial")),
        "license": article.get("license"),
        "commercial": bool(article.get("commercial")),
        "language": (scope[0].get("language") if paragraph_id else None) or article.get("language"),
        "languages": list(article.get("languages") or []),
        "journal": article.get("journal"),
        "year": article.get("year"),
        "document_types": ranked_values(scope, "document_type"),
        "domains": ranked_values(scope, "domain"),
        "educational_score": None if score is None else round(score, 4),
        "n_paragraphs": len(scope),
        "upsample_factor": factor,
        "upsample_rules": rules,
    }


def build_rows(article: dict[str, Any], paragraphs: list[dict[str, Any]], recipe: Recipe,
               drop_contaminated: bool = True, validation_fraction: float = 0.0) -> list[dict[str, Any]]:
    """Rows (before repetition) for one article; [] when the article is filtered out.

    ``paragraphs`` must already exclude duplicates. Paragraphs flagged ``contaminated`` (benchmark
    overlap) go first when ``drop_contaminated``, before any filter, so they can neither be emitted
    nor make an article qualify for upsampling. Upsampling conditions are judged on the article's
    paragraphs that survived the filter, in both article and paragraph mode. An article held out
    for validation (:func:`~pipeline.emit.layout.is_validation`) gets ``part = "validation"``.
    """
    ordered = sorted(paragraphs, key=lambda p: p["ordinal"])
    if drop_contaminated:
        ordered = [p for p in ordered if not p.get("contaminated")]
    kept = filter_paragraphs(ordered, recipe.filter)
    if not keep_article(article, kept, recipe.articles):
        return []
    factor, rules = upsample_factor(kept, recipe.upsample, article)
    part = VALIDATION if is_validation(article["article_id"], validation_fraction) else TRAIN
    fmt = recipe.format
    if fmt.unit == "article":
        rows = [_row(article, kept, article_text(article, kept, fmt), article["article_id"], None, factor, rules)]
    else:
        rows = [_row(article, [p], paragraph_text(article, p, fmt), p["paragraph_id"], p["paragraph_id"], factor,
                     rules) for p in kept]
    for row in rows:
        row["part"] = part
    return rows
