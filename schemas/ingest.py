"""Tables written by ingest: articles, paragraphs, quarantine, superseded (+ the job's private
per-input staging layout).

Counting words used by the ingest report: a *document* is one file or one package member (or one
filelist row whose member is missing); a document holds one or more *articles* (a bundle such as
Europe PMC's ``<articles>`` holds many). Every document seen is either parsed (≥ 1 article row)
or quarantined (exactly one quarantine row).
"""

from __future__ import annotations

import pyarrow as pa

ARTICLES = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),  # PMC\d+, else doi:..., else src:<sha1>
        pa.field("pmid", pa.string()),
        pa.field("doi", pa.string()),
        pa.field("title", pa.string()),
        pa.field("journal", pa.string()),
        pa.field("year", pa.int32()),
        pa.field("article_type", pa.string()),
        pa.field("license", pa.string(), nullable=False),  # normalised: "CC BY", "CC BY-NC-ND", "CC0", ..., "none"
        pa.field("license_url", pa.string()),
        pa.field("commercial", pa.bool_(), nullable=False),
        pa.field("retracted", pa.bool_(), nullable=False),
        pa.field("language", pa.string()),  # article's main language (ISO 639-1): declared, else most confident words
        # Every language the article is written in (sorted ISO 639-1): declared xml:lang of the
        # article, trans-abstracts and sub-articles, plus languages that enough confident running
        # text supports (pipeline/langid.py). Select French articles with "fr" in languages.
        pa.field("languages", pa.list_(pa.string())),
        pa.field("source", pa.string(), nullable=False),  # "<package or file>" or "<package>::<member>"
        # From the package filelist's LastUpdated (authoritative); null for loose files. Microsecond
        # unit because that is what Spark writes to Parquet (values are whole seconds).
        pa.field("last_updated", pa.timestamp("us", tz="UTC")),
        pa.field("n_paragraphs", pa.int32(), nullable=False),
    ]
)

PARAGRAPHS = pa.schema(
    [
        pa.field("paragraph_id", pa.string(), nullable=False),  # f"{article_id}:{ordinal:05d}"
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),  # reading order within the article, from 0
        pa.field("zone", pa.string(), nullable=False),  # abstract | trans-abstract | body | back | boxed-text | caption | sub-article
        pa.field("section_path", pa.list_(pa.string())),  # every enclosing section title, outermost first
        pa.field("xml_path", pa.string(), nullable=False),  # e.g. "body/sec[0]/p[1]"
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_words", pa.int32(), nullable=False),
        # ISO 639-1, only when reliable: >= ingest.language_min_words words and identifier score
        # >= ingest.language_min_score; else null. With detection off: the declared xml:lang.
        pa.field("language", pa.string()),
        pa.field("language_detected", pa.string()),  # the identifier's raw top answer, no threshold
        pa.field("language_score", pa.float32()),  # its score, kept whether or not it was trusted
    ]
)

QUARANTINE = pa.schema(
    [
        # The document that failed ("<file>" or "<package>::<member>"), or the whole package when
        # the failure cannot be pinned to a member (a truncated archive without a filelist).
        pa.field("source", pa.string(), nullable=False),
        # Short machine-readable code. From reading: truncated_archive, missing_member,
        # member_too_large, not_xml_member, bad_gzip, read_error, bad_filelist; from the parser:
        # its JatsError.reason (malformed_xml, not_jats, ...); parser_crash for anything unexpected.
        pa.field("reason", pa.string(), nullable=False),
        pa.field("error", pa.string()),  # short human-readable message (≤ 500 chars)
    ]
)

SUPERSEDED = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # the copy that was dropped
        pa.field("last_updated", pa.timestamp("us", tz="UTC")),  # of the dropped copy
        pa.field("kept_source", pa.string(), nullable=False),  # the copy that was kept
    ]
)

# Which copy of an article is kept (see docs/ingest.md): latest last_updated (null = oldest),
# then the greatest source name (PMC names incremental packages after their date, so a later
# package sorts after an earlier one and "baseline" < "incr"), then the first article of a document.

# Private to jobs/ingest.py: one staged table per input unit, so a rerun after a crash re-parses
# only the inputs that were not finished. ``kind``: D = a document entered parsing (one per
# document seen), A = article, P = paragraph, Q = quarantined document, F = one failed article of a
# multi-article document whose other articles parsed (a quarantine row, not a document); ``doc_index`` is the article's
# position in its document (A and P rows).
STAGE = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("doc_index", pa.int32()),
        pa.field("article", pa.struct(list(ARTICLES))),
        pa.field("paragraph", pa.struct(list(PARAGRAPHS))),
        pa.field("quarantine", pa.struct(list(QUARANTINE))),
    ]
)
