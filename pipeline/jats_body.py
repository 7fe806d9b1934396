"""Paragraph extraction: walk an article's structure in reading order and emit paragraph units.

A *paragraph unit* is a ``<p>`` that is not inside another unit, a whole list / definition list /
verse group / preformatted block that sits directly in a section, or a figure/table caption.
Everything nested inside a unit is part of that unit's text, so each ``<p>`` is counted once.

Traversal is a plain loop over children with per-tag sibling counters (no XPath): the counters
give ``xml_path`` indices (``body/sec[1]/p[0]``: index among same-tag siblings) for free.
"""

from __future__ import annotations

from typing import NamedTuple

from pipeline.jats_text import FLOATS, XML_LANG, collect, element_text
from pipeline.text import normalize_text

# Containers walked into; a direct <title> (or <caption><title> for boxed-text) joins section_path.
CONTAINERS = frozenset(
    {
        "sec", "ack", "app", "app-group", "notes", "fn-group", "fn", "glossary", "disp-quote",
        "statement", "boxed-text", "abstract", "trans-abstract", "bio", "question-wrap",
        "question", "answer", "answer-set", "explanation", "body", "back", "front-stub",
        "floats-group",
    }
)
# Block units emitted whole as one paragraph when they sit directly in a container.
WHOLE_BLOCKS = frozenset({"list", "def-list", "verse-group", "preformat", "speech", "array"})
# Structural singletons written without an index in xml_path.
SINGLETONS = frozenset({"front", "body", "back", "article-meta", "front-stub", "floats-group"})


class Unit(NamedTuple):
    zone: str
    section_path: list[str]
    xml_path: str
    text: str
    lang: str | None  # nearest enclosing xml:lang (declared, not detected)


class Walker:
    """Collects ``Unit`` tuples in reading order. Hot path: keep per-child work minimal."""

    __slots__ = ("units",)

    def __init__(self) -> None:
        self.units: list[Unit] = []

    def captions(self, el, zone, titles, path, lang):
        """A figure/table (or group of them): caption title + caption paragraphs → one unit."""
        tag = el.tag
        counts: dict[str, int] = {}
        for child in el:
            ctag = child.tag
            if ctag == "caption":
                text = normalize_text(element_text(child))
                if text:
                    # inside a sub-article everything stays zone "sub-article"
                    czone = zone if zone == "sub-article" else "caption"
                    self.units.append(Unit(czone, titles, f"{path}/caption", text, lang))
            elif ctag in FLOATS and tag in ("fig-group", "table-wrap-group"):
                i = counts.get(ctag, 0)
                counts[ctag] = i + 1
                self.captions(child, zone, titles, f"{path}/{ctag}[{i}]", lang)

    @staticmethod
    def _float_path(unit_el, unit_path, fl):
        # figures inside a <p> are rare; build their path by walking up to the unit
        steps = []
        node = fl
        while node is not None and node is not unit_el:
            parent = node.getparent()
            if parent is None:
                break
            tag = node.tag
            i = 0
            for sib in parent:
                if sib is node:
                    break
                if sib.tag == tag:
                    i += 1
            steps.append(f"{tag}[{i}]")
            node = parent
        return unit_path + "/" + "/".join(reversed(steps))

    def unit(self, el, zone, titles, path, lang):
        out: list[str] = []
        floats: list = []
        collect(el, out, floats)
        text = normalize_text("".join(out))
        own = el.get(XML_LANG) or lang
        if text:
            self.units.append(Unit(zone, titles, path, text, own))
        for fl in floats:
            self.captions(fl, zone, titles, self._float_path(el, path, fl), own)

    def walk(self, container, zone, titles, path, lang):
        """Emit the units inside ``container`` (whose xml_path is ``path``) in document order."""
        counts: dict[str, int] = {}
        for child in container:
            tag = child.tag
            i = counts.get(tag, 0)
            counts[tag] = i + 1
            if tag == "p":
                self.unit(child, zone, titles, f"{path}/p[{i}]", lang)
            elif tag in CONTAINERS:
                cpath = f"{path}/{tag}" if tag in SINGLETONS else f"{path}/{tag}[{i}]"
                title = section_title(child)
                self.walk(
                    child,
                    "boxed-text" if tag == "boxed-text" and zone != "sub-article" else zone,
                    [*titles, title] if title else titles,
                    cpath,
                    child.get(XML_LANG) or lang,
                )
            elif tag in WHOLE_BLOCKS:
                self.unit(child, zone, titles, f"{path}/{tag}[{i}]", lang)
            elif tag == "caption" and container.tag == "boxed-text":
                # the box's caption title is already in section_path; its paragraphs are text
                self.walk(child, zone, titles, f"{path}/caption", lang)
            elif tag in FLOATS:
                self.captions(child, zone, titles, f"{path}/{tag}[{i}]", lang)
            # anything else (title, label, ref-list, disp-formula, sec-meta, entity/comment
            # nodes, …) is not running text


def section_title(el) -> str | None:
    """Direct <title> of a container (boxed-text: its caption's title; label if no title).

    A child loop, not ``find``: lxml's ElementPath costs microseconds per call, this is hot.
    """
    title = label = caption = None
    for child in el:
        tag = child.tag
        if tag == "title":
            title = child
            break
        if tag == "label":
            label = child
        elif tag == "caption":
            caption = child
        elif tag in ("p", "sec"):
            break  # titles come first; don't scan a long section
    if title is None and caption is not None and el.tag == "boxed-text":
        title = caption.find("title")
    if el.tag in ("fn", "list-item"):
        label = None  # a footnote/list marker ("a", "1."), not a section title
    for candidate in (title, label):
        if candidate is not None:
            text = normalize_text(element_text(candidate))
            if text:
                return text
    return None
