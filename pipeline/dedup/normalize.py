"""Text normalisation for dedup, delegated to datatrove's ``simplify_text``, and the exact hash."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from datatrove.utils.text import TextNormConfig, simplify_text


@lru_cache(maxsize=16)
def norm_config(lowercase: bool = True, remove_punctuation: bool = True,
                normalize_numbers: bool = False) -> TextNormConfig:
    # Whitespace is always collapsed: shingling splits words on single spaces.
    return TextNormConfig(lowercase=lowercase, norm_whitespace=True, remove_punctuation=remove_punctuation,
                          norm_unicode_diacritics=True, norm_numbers=normalize_numbers,
                          norm_weekdays=False, norm_monthnames=False)


def normalize(text: str | None, lowercase: bool = True, remove_punctuation: bool = True,
              normalize_numbers: bool = False) -> str:
    """Lowercase, punctuation → space, whitespace collapsed, diacritics stripped (datatrove)."""
    if not text:
        return ""
    return simplify_text(text, norm_config(lowercase, remove_punctuation, normalize_numbers))


def exact_hash(normalized: str, raw: str | None = None) -> str:
    """128-bit hex digest of the normalised text.

    A text that normalises to nothing (only punctuation or symbols) is hashed on its raw form
    instead, so such paragraphs are not all lumped together as "duplicates" of each other.
    """
    if normalized:
        payload = b"n:" + normalized.encode("utf-8")
    else:
        payload = b"r:" + (raw or "").strip().encode("utf-8")
    return hashlib.blake2b(payload, digest_size=16).hexdigest()
