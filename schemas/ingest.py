"""Tables written by ingest: articles, paragraphs, quarantine, superseded."""

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
        pa.field("language", pa.string()),  # article's main language (ISO 639-1)
        pa.field("source", pa.string(), nullable=False),  # "<package or file>" or "<package>::<member>"
        pa.field("last_updated", pa.timestamp("s", tz="UTC")),
        pa.field("n_paragraphs", pa.int32(), nullable=False),
    ]
)

PARAGRAPHS = pa.schema(
    [
        pa.field("paragraph_id", pa.string(), nullable=False),  # f"{article_id}:{ordinal:05d}"
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),  # reading order within the article, from 0
        pa.field("zone", pa.string(), nullable=False),  # abstract | trans-abstract | body | back | boxed-text | sub-article
        pa.field("section_path", pa.list_(pa.string())),  # every enclosing section title, outermost first
        pa.field("xml_path", pa.string(), nullable=False),  # e.g. "body/sec[0]/p[1]"
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_words", pa.int32(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("language_score", pa.float32()),
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # short machine-readable code, e.g. "malformed_xml"
        pa.field("error", pa.string()),  # short human-readable message (≤ 500 chars)
    ]
)

SUPERSEDED = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # the copy that was dropped
        pa.field("last_updated", pa.timestamp("s", tz="UTC")),
        pa.field("kept_source", pa.string(), nullable=False),  # the copy that was kept
    ]
)
