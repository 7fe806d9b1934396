"""What every catalog view and column means: the text of the catalog's ``COMMENT ON`` statements.

Kept apart from the SQL in ``pipeline.catalog`` so the descriptions read as one glossary. A column
is looked up as ``(view, column)`` first, then by column name alone (``paragraph_id`` means the
same everywhere). A column nobody described yet still gets a comment saying so, so that
``duckdb_columns()`` shows every column with a comment and a missing description is visible.
"""

from __future__ import annotations

VIEWS: dict[str, str] = {
    "articles": "One row per article kept by ingest (the newest copy of each article_id). From articles/.",
    "paragraphs": "One row per paragraph of a kept article, in reading order, with its text. From paragraphs/.",
    "quarantine": "One row per input document that could not be parsed, with the reason. From quarantine/.",
    "superseded": "One row per older copy of an article dropped in favour of a newer one. From superseded/.",
    "dedup": "Dedup sidecar: one row per paragraph, its duplicate cluster and whether it is dropped. From dedup/.",
    "dedup_articles": "One row per article flagged as a reprint: most of its paragraphs copy one other article. "
                      "From dedup_articles/.",
    "contamination": "One row per (paragraph, benchmark item) sharing enough word n-grams: a paragraph is "
                     "contaminated when it has any row. From contamination/ (decontaminate).",
    "sample": "One row per paragraph sampled for LLM labelling, with its stratum. From sample/.",
    "labels": "One row per LLM (or imported) label, valid (status = 'ok') or not; imported texts that match no "
              "run paragraph have a null paragraph_id. From labels/.",
    "annotations": "One row per paragraph: the student's predictions. From annotations/.",
    "paragraph_facts": "One row per paragraph with its text, its article's metadata and every sidecar joined "
                       "(dedup, reprint flag, sample, LLM label, student annotation, other paragraph sidecars). "
                       "The view most questions start from.",
    "variants": "One row per variant x split: sizes after filtering and upsampling. Copied from "
                "variants/<recipe>/manifest.json.",
    "variant_shards": "One row per Parquet shard of a variant. Copied from the manifests.",
    "variant_rows": "Every row of every variant shard (repeated rows included), with variant and split columns.",
    "_catalog": "When and how this catalog was built.",
}

# By column name, whatever the view (the most common meaning).
COMMON: dict[str, str] = {
    "paragraph_id": "Paragraph id: '<article_id>:<ordinal, 5 digits>'.",
    "article_id": "Article id: PMC<number>, else doi:<doi>, else src:<sha1 of the source>.",
    "text": "Paragraph text as extracted from the JATS XML (normalised whitespace).",
    "n_words": "Words in the text (whitespace split).",
    "language": "ISO 639-1 language code (paragraph: detected by fastText lid.176; article: declared).",
    "language_score": "Confidence of the language detection (0-1).",
    "source": "Input document: '<file>' or '<package>::<member>'.",
    "license": "Normalised licence: 'CC BY', 'CC BY-NC', 'CC0', ... or 'none'.",
    "commercial": "True when the licence allows commercial use.",
    "journal": "Journal title.",
    "year": "Publication year.",
    "article_type": "JATS article-type (e.g. research-article, case-report).",
    "retracted": "True when the article is a retraction or marked retracted.",
    "document_type": "Student's document type: clinical_case | study | review | other.",
    "domain": "Student's domain: clinical | biomedical | other.",
    "educational_score": "Student's educational score, a float in [1, 5].",
    "document_type_scores": "Student's probabilities in the order clinical_case, study, review, other.",
    "domain_scores": "Student's probabilities in the order clinical, biomedical, other.",
    "classifier_version": "Version of the student that made the prediction (e.g. fasttext-<hash>).",
    "dedup_version": "Dedup algorithm version + parameter hash.",
    "stratum": "Sampling stratum: article_type|section_family|language|licence_group|length_bucket.",
    "variant": "Variant (recipe) name, e.g. BE-All.",
    "split": "commercial | noncommercial.",
    "rows": "Rows, counting every upsampled copy.",
    "tokens": "Tokens, counting every upsampled copy (tokenizer in variants.tokenizer).",
    "bytes": "Size on disk in bytes.",
}

COLUMNS: dict[str, dict[str, str]] = {
    "articles": {
        "pmid": "PubMed id, when the article has one.",
        "doi": "DOI, when the article has one.",
        "title": "Article title.",
        "license_url": "Licence URL as written in the article.",
        "language": "Article's main language (ISO 639-1): declared, else that of its most confident words.",
        "languages": "Every language the article is written in (sorted ISO 639-1): declared xml:lang of the "
                     "article, trans-abstracts and sub-articles, plus languages enough confident text supports.",
        "last_updated": "LastUpdated of the package filelist (null for loose files).",
        "n_paragraphs": "Paragraphs extracted from the article.",
    },
    "paragraphs": {
        "ordinal": "Reading order within the article, from 0.",
        "zone": "Where the paragraph sits: abstract | trans-abstract | body | back | boxed-text | caption | sub-article.",
        "section_path": "Titles of the enclosing sections, outermost first.",
        "xml_path": "Position in the JATS XML, e.g. body/sec[0]/p[1].",
        "language": "Detected language of the paragraph (ISO 639-1); null when the text is too short or the "
                    "identifier unsure (see language_detected).",
        "language_detected": "The language identifier's raw top answer, no threshold applied.",
    },
    "quarantine": {
        "reason": "Short code: malformed_xml, not_jats, truncated_archive, missing_member, parser_crash, ...",
        "error": "Human-readable error message (at most 500 characters).",
    },
    "superseded": {
        "source": "The copy that was dropped.",
        "last_updated": "LastUpdated of the dropped copy.",
        "kept_source": "The copy that was kept.",
    },
    "dedup": {
        "exact_hash": "blake2b-128 hex of the normalised text (equal hash = exact duplicate).",
        "n_shingles": "Distinct word 5-grams in the text.",
        "near_eligible": "True when the paragraph is long enough for near-duplicate detection.",
        "cluster_id": "Smallest paragraph_id of the paragraph's duplicate cluster.",
        "cluster_size": "Paragraphs in the cluster (1 = unique).",
        "is_duplicate": "True when the paragraph is dropped as a copy of kept_paragraph_id.",
        "kept_paragraph_id": "The paragraph kept for the cluster.",
        "match": "unique | kept | exact | near.",
    },
    "dedup_articles": {
        "article_id": "The article flagged as a reprint.",
        "other_article_id": "The article it copies.",
        "n_paragraphs": "Paragraphs of article_id.",
        "n_shared": "Of them, dropped as copies of paragraphs of other_article_id.",
        "share": "n_shared / n_paragraphs.",
        "kept_share": "Share of article_id's paragraphs that are kept.",
    },
    "contamination": {
        "benchmark": "Benchmark file name without extensions.",
        "item_id": "The benchmark item's id in that file (or its line / row).",
        "matched_ngrams": "Paragraph n-gram positions the item holds.",
        "overlap": "matched_ngrams / the paragraph's n-gram positions.",
    },
    "sample": {
        "n_tokens": "Estimated tokens: ceil(words x tokens_per_word).",
        "article_type": "Grouped article type: a known type, 'other' or 'unknown'.",
        "section_family": "abstract | introduction | methods | results | discussion | ...",
        "language": "Paragraph language, else article language, else 'und'.",
        "licence_group": "commercial | noncommercial | other.",
        "length_bucket": "Estimated token length bucket, e.g. '128-255'.",
    },
    "labels": {
        "paragraph_id": "Run paragraph labelled; null for imported texts that match no run paragraph.",
        "text": "The exact text sent to the labeller.",
        "text_hash": "sha1 of the text sent.",
        "document_type": "LLM's document type: clinical_case | study | review | other (null when invalid).",
        "domain": "LLM's domain: clinical | biomedical | other (null when invalid).",
        "educational_score": "LLM's educational score, an integer 1-5 (null when invalid).",
        "language": "LLM's language code for the text.",
        "labeller": "Model id of the labeller, or 'import:<file>' for imported labels.",
        "prompt_version": "Version (hash) of the prompt.",
        "created_at": "When the label was made.",
        "status": "ok | invalid.",
        "invalid_reason": "Why a response was rejected: bad_json, invalid_value, missing_field, refusal, ...",
        "raw_response": "The labeller's raw response (kept only when invalid).",
        "document_type_probs": "LLM's probabilities per document type, when the backend reports them.",
        "domain_probs": "LLM's probabilities per domain, when the backend reports them.",
        "educational_score_probs": "LLM's probabilities per score 1-5, when the backend reports them.",
    },
    "paragraph_facts": {
        "languages": "Every language of the paragraph's article (articles.languages).",
        "article_language": "Article's main language (articles.language).",
        "title": "Article title.",
        "is_duplicate": "Dedup: dropped as a copy of another paragraph (null when dedup has not run).",
        "dedup_match": "Dedup: unique | kept | exact | near.",
        "cluster_id": "Dedup: smallest paragraph_id of the duplicate cluster.",
        "cluster_size": "Dedup: paragraphs in the cluster (1 = unique).",
        "kept_paragraph_id": "Dedup: the paragraph kept for the cluster.",
        "reprint_of": "The article this paragraph's article reprints (dedup_articles), else null.",
        "is_contaminated": "True when the paragraph overlaps a benchmark item (contamination/; the column is "
                           "absent before decontaminate has run).",
        "contamination_benchmarks": "Benchmarks the paragraph overlaps.",
        "contamination_max_overlap": "Largest overlap with one benchmark item.",
        "in_sample": "True when the paragraph was sampled for LLM labelling.",
        "sample_stratum": "Sampling stratum of a sampled paragraph.",
        "llm_document_type": "LLM's document type (valid labels only; null when unlabelled).",
        "llm_domain": "LLM's domain (valid labels only).",
        "llm_educational_score": "LLM's educational score 1-5 (valid labels only).",
        "labeller": "Labeller of the LLM label.",
    },
    "variants": {
        "articles": "Articles in the split.",
        "paragraphs": "Unique paragraphs in the split (before upsampling).",
        "unique_rows": "Rows before upsampling.",
        "unique_tokens": "Tokens before upsampling.",
        "n_shards": "Parquet shards written.",
        "tokenizer": "Tokenizer the tokens were counted with.",
        "seed": "Shuffle seed.",
        "fingerprint": "Fingerprint of the emit settings and inputs.",
        "unit": "One row per article or per paragraph.",
        "created_at": "When the variant was written.",
    },
    "variant_shards": {
        "path": "Shard path relative to variants/<variant>/.",
        "rows": "Rows in the shard.",
        "tokens": "Tokens in the shard.",
        "sha256": "SHA-256 of the shard file.",
    },
    "variant_rows": {
        "id": "'<article_id or paragraph_id>#<copy_index>', unique within a variant.",
        "paragraph_id": "Paragraph of the row (paragraph-per-row variants only).",
        "text": "The pretraining text (with any recipe prefix).",
        "language": "Language of the row.",
        "languages": "Every language of the row's article (from ingest), sorted.",
        "document_types": "Student document types present, most frequent first.",
        "domains": "Student domains present, most frequent first.",
        "educational_score": "Mean student score over the row's paragraphs (null: none annotated).",
        "n_paragraphs": "Paragraphs in the row.",
        "n_tokens": "Tokens in the row.",
        "upsample_factor": "Copies of this row in the variant.",
        "upsample_rules": "Recipe rules that matched.",
        "copy_index": "0 .. upsample_factor-1.",
    },
    "_catalog": {
        "built_at": "When the catalog was built (UTC).",
        "objects": "JSON list of the views and tables created.",
        "paths": "How views find their files: 'relative' (to the folder holding catalog.duckdb).",
        "format": "Catalog layout version.",
    },
}

UNDESCRIBED = "(no description yet) column of {view}"


def view_comment(view: str) -> str:
    if view in VIEWS:
        return VIEWS[view]
    return f"Paragraph or article sidecar table {view}/ of the run."


def column_comment(view: str, column: str) -> str:
    """The description of ``view.column``; a sidecar's prefixed column in paragraph_facts
    (``<sidecar>_<column>``) is described as that sidecar's column."""
    own = COLUMNS.get(view, {})
    if column in own:
        return own[column]
    if view == "paragraph_facts" and column.endswith("_rows"):
        return f"Rows of the {column[:-5]}/ sidecar for this paragraph (the rows themselves: column {column[:-5]})."
    if column in COMMON:
        return COMMON[column]
    return UNDESCRIBED.format(view=view)
