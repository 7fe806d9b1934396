"""Ingest stage settings (owned by the ingest stage)."""

from __future__ import annotations

from pipeline.config.base import knob
from pydantic import BaseModel, Field

from pipeline import langid


class IngestConfig(BaseModel):
    # Parsing parallelism is decoupled from the number of input files: members streamed out of a
    # package are redistributed over several partitions before parsing, so a handful of multi-GB
    # tarballs still keep every executor busy.
    parse_partitions: int = knob(0, ge=0, description="parse partitions per package; 0 = from its size "
                                  "(partition_mb), at least the Spark default parallelism")
    partition_mb: int = knob(16, ge=1, description="compressed package MB (≈ 4-5× as much XML) per parse partition")
    files_per_chunk: int = knob(5000, ge=1, description="loose files per staged unit of work (resumability grain)")
    concurrent_inputs: int = knob(4, ge=1, description="input units parsed by concurrent Spark jobs")
    max_member_bytes: int = Field(64 * 1024 * 1024, ge=1, description="larger members/files are quarantined unread")
    detect_language: bool = True
    # When a detected language is trusted (measured thresholds: docs/ingest-parsing.md)
    language_min_words: int = Field(langid.MIN_WORDS, ge=0, description="a paragraph gets a language only "
                                    "with at least this many words")
    language_min_score: float = Field(langid.MIN_SCORE, ge=0.0, le=1.0, description="... and an identifier "
                                      "score at least this high")
    article_language_min_words: int = Field(langid.ARTICLE_MIN_WORDS, ge=1, description="confident running-text "
                                            "words needed for a detected language to join an article's languages")
    article_language_min_paragraphs: int = Field(langid.ARTICLE_MIN_PARAGRAPHS, ge=1, description="... spread "
                                                 "over at least this many paragraphs")
    rows_per_file: int = knob(500_000, ge=1, description="target rows per output Parquet file")


def language_rules(icfg: IngestConfig) -> langid.LanguageRules:
    return langid.LanguageRules(min_words=icfg.language_min_words, min_score=icfg.language_min_score,
                                article_min_words=icfg.article_language_min_words,
                                article_min_paragraphs=icfg.article_language_min_paragraphs)
