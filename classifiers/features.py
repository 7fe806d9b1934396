"""What a student sees: normalised text plus optional context tokens.

Pure functions, shared by training and inference so both see exactly the same input. fastText
splits on whitespace only, so normalisation lower-cases, separates punctuation from words and
maps digits to one symbol (numbers are frequent and carry little meaning; one token "0" for all of
them keeps the vocabulary small). Context (section path, zone, article type) becomes a few extra
tokens with a reserved prefix, so they cannot collide with words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

CONTEXT_FEATURES: tuple[str, ...] = ("section", "zone", "article_type")
# Features computed from the paragraph's own text (no column needed, always available at
# inference, so never dropped by context dropout): "length" = a word-count bucket token.
TEXT_FEATURES: tuple[str, ...] = ("length",)
# Word-count bucket edges of the length token (__len_0: < 10 words, ..., __len_5: >= 250).
LENGTH_EDGES: tuple[int, ...] = (10, 30, 60, 120, 250)

# Speed matters here (≥ 20k paragraphs/s per core for all three heads, normalisation included):
# one regex pass with a dict-lookup callback splits punctuation off (template substitution is 2x
# slower), and a bytes-level translate table maps digits and ASCII control whitespace in C.
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~“”‘’«»–—…·•§°±×"
# Unicode whitespace becomes a plain space, so Python's str.split() and fastText's reader (which
# splits on ASCII space, \t \n \v \f \r \0 only) see the same tokens.
_SPACES = "".join(c for c in map(chr, range(0x80, 0x3001)) if c.isspace())
_PUNCT_RE = re.compile("[" + re.escape(_PUNCT + _SPACES) + "]")
_SEP = {c: f" {c} " for c in _PUNCT} | {c: " " for c in _SPACES}
_BYTES = bytearray(range(256))
for _b in b"\t\n\r\x0b\x0c\x00\x1c\x1d\x1e\x1f":
    _BYTES[_b] = 0x20
for _b in b"0123456789":
    _BYTES[_b] = 0x30
_BYTES = bytes(_BYTES)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# Canonical section kinds: a title is mapped to the first kind one of its words names.
_SECTION_KINDS = (
    ("abstract", ("abstract", "summary", "resumo", "resumen", "résumé")),
    ("intro", ("introduction", "background", "introdução", "introducción", "introducao", "introduccion")),
    ("methods", ("method", "methods", "methodology", "materials", "material", "métodos", "metodos",
                 "procedures", "design", "participants", "patients", "statistical", "analysis")),
    ("results", ("result", "results", "resultados", "findings")),
    ("discussion", ("discussion", "discussão", "discusión", "discussao", "discusion", "limitations")),
    ("conclusion", ("conclusion", "conclusions", "conclusões", "conclusiones", "conclusao")),
    ("case", ("case", "caso", "presentation", "report")),
    ("review", ("review", "overview", "literature")),
    ("back", ("acknowledgements", "acknowledgments", "acknowledgement", "acknowledgment", "funding",
              "contributions", "interests", "availability", "ethics", "disclosure", "conflict",
              "conflicts", "supplementary", "abbreviations", "agradecimentos", "financiamento")),
)
_SECTION_LOOKUP = {word: kind for kind, words in _SECTION_KINDS for word in words}


def normalise(text: str | None) -> str:
    """Lower-case, punctuation split off as tokens, digits → 0, control whitespace → space."""
    if not text:
        return ""
    # Runs of spaces are left in: fastText's tokenizer skips them, and collapsing costs 30%.
    spaced = _PUNCT_RE.sub(_sep, text.lower())
    return spaced.encode("utf-8", "replace").translate(_BYTES).decode("utf-8", "replace").strip()


def _sep(match: re.Match) -> str:
    return _SEP[match.group()]


def section_kind(title: str | None) -> str | None:
    """Map a section title to a canonical kind ("methods", "results", ...), None if unknown."""
    if not title:
        return None
    for word in _WORD.findall(title.lower()):
        kind = _SECTION_LOOKUP.get(word)
        if kind:
            return kind
    return "other"


def context_tokens(section: str | Sequence[str] | None = None, zone: str | None = None,
                   article_type: str | None = None, use: Sequence[str] = CONTEXT_FEATURES,
                   text: str | None = None) -> list[str]:
    """Extra tokens for the context a paragraph came with; absent values give no token.

    ``section`` is either the nearest section title or a section path (outermost first: the
    innermost title is the one used, falling back outwards when it names no known kind).
    ``text``: the paragraph, for the text-derived features (``length``) when ``use`` names them.
    """
    tokens: list[str] = []
    if "section" in use and section is not None:
        titles = [section] if isinstance(section, str) else list(section)
        kind = None
        for title in reversed(titles):
            kind = section_kind(title)
            if kind and kind != "other":
                break
        if kind:
            tokens.append(f"__sec_{kind}")
    if "zone" in use and zone:
        tokens.append(f"__zone_{_slug(zone)}")
    if "article_type" in use and article_type:
        tokens.append(f"__atype_{_slug(article_type)}")
    if "length" in use and text is not None:
        tokens.append(length_token(text))
    return tokens


def length_token(text: str | None) -> str:
    """The paragraph's word-count bucket as a token (``__len_0`` .. ``__len_5``, see LENGTH_EDGES)."""
    words = len(text.split()) if text else 0
    return f"__len_{sum(words >= e for e in LENGTH_EDGES)}"


def context_token_rows(texts: Sequence[str | None], context: Mapping[str, Sequence[Any]] | None,
                       use: Sequence[str], columns: bool = True) -> list[list[str]] | None:
    """Each row's context tokens (the column features in ``use`` found in ``context`` when
    ``columns``, plus the text features in ``use``), or None when no feature applies: shared by the
    students so training and inference build the same tokens."""
    ctx = {k: v for k, v in (context or {}).items()
           if columns and k in use and k in CONTEXT_FEATURES and v is not None}
    from_text = any(f in use for f in TEXT_FEATURES)
    if not ctx and not from_text:
        return None
    cols = [(k, ctx[k]) for k in CONTEXT_FEATURES if k in ctx]
    return [context_tokens(**{k: col[i] for k, col in cols}, use=use, text=(texts[i] or "") if from_text else None)
            for i in range(len(texts))]


def _slug(value: str) -> str:
    return "_".join(_WORD.findall(value.lower())) or "none"


def student_input(text: str | None, context: Sequence[str] = ()) -> str:
    """The single line a fastText head reads: context tokens first, then the normalised text."""
    body = normalise(text)
    return f"{' '.join(context)} {body}" if context else body


def text_hash(text: str) -> str:
    """sha1 of the exact text (the labels table's ``text_hash``)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def split_bucket(key: str, seed: int = 0) -> float:
    """A stable pseudo-random number in [0, 1) for a row key: deterministic splits, no RNG state."""
    digest = hashlib.sha1(f"{seed}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
