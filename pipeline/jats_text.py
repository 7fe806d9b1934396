"""Running text of one JATS element: inline markup joined as written, blocks kept apart.

Rules (documented in docs/ingest-parsing.md):
- inline elements (italic, bold, sup, sub, xref, ext-link, named-content, sc, …) contribute their
  text exactly where they stand, with no added space, so ``H<sub>2</sub>O`` stays ``H2O`` and the
  source's own spaces around ``<xref>`` survive;
- block-ish children (nested ``p``, ``list-item``, ``break``, ``title``, ``def``, ``disp-quote`` …)
  are surrounded by a space, so two words are never fused across them;
- tables, figures, display formulas, graphics, media are skipped (their tail text is kept);
  figures and tables met inside a paragraph are handed back so the caller can emit their captions
  as separate paragraphs;
- ``inline-formula`` and inline ``mml:math`` become the text of their MathML tokens (``p<0.05``);
  TeX source and block-level math are dropped;
- undeclared entity references (``&nbsp;`` in files whose DTD we refuse to load) become their HTML5
  character.
"""

from __future__ import annotations

from html.entities import html5 as _HTML5

from lxml import etree

MML = "{http://www.w3.org/1998/Math/MathML}"
MML_MATH = MML + "math"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Never part of running text. Their tail text still is.
SKIP = frozenset(
    {
        "table-wrap", "table-wrap-group", "fig", "fig-group", "table", "disp-formula",
        "disp-formula-group", "graphic", "inline-graphic", "media", "inline-media", "tex-math",
        "chem-struct-wrap", "array", "supplementary-material", "alternatives", "object-id",
        "private-char", "processing-meta", "ref-list", "table-wrap-foot",
    }
)
# Skipped elements whose caption becomes its own paragraph.
FLOATS = frozenset({"table-wrap", "table-wrap-group", "fig", "fig-group"})
# Children that start a new "line": separated from their neighbours by a space.
BLOCKISH = frozenset(
    {
        "p", "list", "list-item", "def-list", "def-item", "term", "def", "break", "title", "label",
        "disp-quote", "statement", "speech", "speaker", "verse-group", "verse-line", "caption",
        "boxed-text", "sec", "attrib", "address", "preformat", "code", "glossary", "fn",
        "table-wrap-foot", "mixed-citation", "element-citation", "question", "answer", "option",
    }
)
MATH = frozenset({"inline-formula", MML_MATH})


def _entity_text(node) -> str:
    # lxml keeps undeclared references as _Entity nodes; node.name is "nbsp", text "&nbsp;".
    name = node.name
    return _HTML5.get(name + ";") or _HTML5.get(name) or " "


def math_text(el) -> str:
    """Linear text of an inline formula: MathML token text, TeX and graphics dropped."""
    math = el if el.tag == MML_MATH else None
    if math is None:
        for m in el.iter(MML_MATH):
            math = m
            break
    if math is not None:
        if math.get("display") == "block" and el is math:
            return ""
        return "".join(math.itertext())
    # no MathML: plain text children of the inline-formula, minus TeX and images
    out: list[str] = []
    if el.text:
        out.append(el.text)
    for child in el:
        tag = child.tag
        if tag.__class__ is str and tag not in SKIP:
            out.append(math_text(child) if tag in MATH else "".join(child.itertext()))
        if child.tail:
            out.append(child.tail)
    return "".join(out)


# One dict lookup per child decides its treatment; inline tags (the vast majority) are absent.
_SKIP, _FLOAT, _BLOCK, _MATH, _ENTITY = 1, 2, 3, 4, 5
KIND: dict = {tag: _SKIP for tag in SKIP}
KIND.update({tag: _FLOAT for tag in FLOATS})
KIND.update({tag: _BLOCK for tag in BLOCKISH})
KIND.update({tag: _MATH for tag in MATH})
KIND[etree.Entity] = _ENTITY  # lxml keeps undeclared entity references as nodes with this tag


# Sentence punctuation that, glued to a capital at an element boundary (``<bold>Results.</bold>The``,
# ``mosquitoes.</bold><italic>Anopheles``), is a missing space in the source, not a token.
_GLUE_PUNCT = frozenset(".:;!?")


# Letters of the Latin scripts: a set lookup is cheaper than str.isupper() in this loop.
_UPPER = frozenset(ch for ch in map(chr, range(0x250)) if ch.isupper())
_LOWER = frozenset(ch for ch in map(chr, range(0x250)) if ch.islower())


def _glued(left: str, right: str) -> bool:
    """A missing source space at an inline-element boundary (``right`` starts with a capital):
    ``Results.|The``, ``mosquitoes.|Anopheles``, ``<italic>T. albicollis</italic>|Brandt``,
    ``corroborate|<xref>Tables 2</xref>``. Not ``Bam|HI``, ``lac|Z`` (no lowercase after the capital)."""
    last = left[-1:]
    if last in _GLUE_PUNCT:
        return True
    return last in _LOWER and right[1:2] in _LOWER


def collect(el, out: list, floats: list | None) -> None:
    """Append the running text of ``el``'s content (not its tail) to ``out``.

    ``floats`` collects figure/table elements met on the way (``None``: ignore them).
    Recursive: JATS inline nesting is shallow (a handful of levels), so no stack blow-up.
    This is the parser's hottest loop: locals are bound, one dict lookup classifies a child.
    """
    append = out.append
    kind_of = KIND.get
    text = el.text
    if text:
        append(text)
    for child in el:
        kind = kind_of(child.tag)
        if kind is None:  # inline markup: its text where it stands, no added space
            if len(child):
                mark = len(out)
                collect(child, out, floats)
                if mark and len(out) > mark and out[mark][:1] in _UPPER and _glued(out[mark - 1], out[mark]):
                    out.insert(mark, " ")
            else:
                text = child.text
                if text:
                    if text[0] in _UPPER and out and _glued(out[-1], text):
                        append(" ")
                    append(text)
            tail = child.tail
            if tail:
                if tail[0] in _UPPER and out and _glued(out[-1], tail):
                    append(" ")
                append(tail)
            continue
        if kind == _BLOCK:
            append(" ")
            collect(child, out, floats)
        elif kind == _MATH:
            append(math_text(child))
        elif kind == _FLOAT:
            if floats is not None:
                floats.append(child)
        elif kind == _ENTITY:
            append(_entity_text(child))
            tail = child.tail
            if tail:
                append(tail)
            continue
        # blocks and skipped elements (a display formula between "as follows:" and "Where …")
        # stand for a word boundary
        append(" ")
        tail = child.tail
        if tail:
            append(tail)


def element_text(el, floats: list | None = None) -> str:
    """Raw (not yet normalised) running text of ``el``."""
    out: list[str] = []
    collect(el, out, floats)
    return "".join(out)
