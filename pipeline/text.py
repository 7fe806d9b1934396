"""Text normalisation helpers shared by the JATS parser and, later, dedup.

Whitespace and unicode handling stay deliberately small: collapse every run of whitespace (incl.
non-breaking and zero-width spaces that JATS authors sprinkle around inline markup) to one space,
then NFC. The aggressive "simplify for near-duplicate detection" form is datatrove's
``simplify_text``; it is re-exported here so dedup imports one module, not two.
"""

from __future__ import annotations

import re
import unicodedata

from datatrove.utils.text import DEF_TEXT_NORM_CONFIG, TextNormConfig, simplify_text  # noqa: F401  (re-export)

__all__ = [
    "normalize_whitespace",
    "normalize_text",
    "count_words",
    "count_words_normalized",
    "simplify_text",
    "TextNormConfig",
    "DEF_TEXT_NORM_CONFIG",
]

# Whitespace: str.split() splits on every Unicode whitespace (NBSP, thin/em spaces, line/paragraph
# separators) and is much faster than a regex substitution, but still the costliest step on
# millions of paragraphs, so cheap substring tests decide whether it is needed at all.
# Zero-width space is not whitespace for Python but must never glue two words invisibly, so it
# becomes a space; the other invisible format characters (ZWNJ, ZWJ, word joiner, BOM, soft
# hyphen) vanish.
_INVISIBLE = re.compile("[\u200c\u200d\u2060\ufeff\u00ad]")
# Any non-ASCII whitespace or invisible character: when absent (the common case) only ASCII
# space/tab/newline runs can need collapsing.
_ODD_SPACE = re.compile("[\u200b\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_ODD = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def normalize_whitespace(text: str) -> str:
    """Collapse whitespace runs to single spaces and strip the ends."""
    return " ".join(text.split())


def normalize_text(text: str) -> str:
    """Whitespace-normalised, invisible-format-character-free, NFC text."""
    if not text.isascii():
        if _ODD.search(text):  # usually NBSP or thin space between a number and its unit
            if "\xa0" in text:
                text = text.replace("\xa0", " ")
            if "\u2009" in text:
                text = text.replace("\u2009", " ")
            if _ODD.search(text):
                text = _INVISIBLE.sub("", _ODD_SPACE.sub(" ", text))
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
    # XML 1.0 text holds no ASCII whitespace but space, tab and newline (CR is normalised away)
    if "\n" in text or "  " in text or "\t" in text:
        return " ".join(text.split())
    return text.strip(" ")


def count_words(text: str) -> int:
    """Whitespace-delimited tokens: cheap, language-agnostic, what ``n_words`` means everywhere."""
    return len(text.split())


def count_words_normalized(text: str) -> int:
    """``count_words`` for text already passed through ``normalize_text`` (single spaces)."""
    return text.count(" ") + 1 if text else 0
