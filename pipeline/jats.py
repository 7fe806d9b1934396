"""JATS/NLM XML → article rows and paragraph rows (pure Python, lxml, no Spark).

Public contract (the ingest job depends on exactly this)::

    parse_document(data: bytes, source: str, *, detect_language=True) -> list[ParsedArticle]

One document may hold one ``<article>``, several (``<articles>``, ``<pmc-articleset>``), or
OAI-PMH ``GetRecord``/``ListRecords`` records whose metadata is a JATS article in a default
namespace. Whole-document problems raise :class:`JatsError` with a short ``reason`` code. In a
multi-article document an article whose extraction fails is dropped and reported through the
optional ``errors`` list (a :class:`JatsError` per failed article, ``reason="article_failed"``)
while the good articles are returned; if every article fails the first error is raised.

Safety: the parser never loads a DTD, never touches the network, never expands an entity, and
refuses any document whose DOCTYPE declares entities (XXE, billion laughs) before lxml sees it.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from lxml import etree

from pipeline.jats_body import Walker, section_title
from pipeline.jats_meta import extract_meta, fallback_id
from pipeline.jats_text import XML_LANG, element_text
from pipeline.license import is_commercial
from pipeline.text import count_words_normalized, normalize_text

__all__ = ["JatsError", "ParsedArticle", "parse_document", "ARTICLE_KEYS", "PARAGRAPH_KEYS", "PARSER_VERSION"]

# Bump when extraction output changes (zones, text rules, ids): the ingest job records it in its
# input fingerprint so a rerun with a different parser does not reuse stale results.
PARSER_VERSION = "1.1"  # 1.1: reliable paragraph language, article languages

log = logging.getLogger(__name__)

ARTICLE_KEYS = (
    "article_id", "pmid", "doi", "title", "journal", "year", "article_type", "license",
    "license_url", "commercial", "retracted", "language", "languages", "source", "last_updated", "n_paragraphs",
)
PARAGRAPH_KEYS = (
    "paragraph_id", "article_id", "ordinal", "zone", "section_path", "xml_path", "text", "n_words",
    "language", "language_detected", "language_score",
)

OAI_NS = "{http://www.openarchives.org/OAI/2.0/}"


class JatsError(Exception):
    """A document (or one article of it) that cannot be parsed; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str = ""):
        self.reason = reason
        self.message = (message or reason)[:300]
        super().__init__(f"{reason}: {self.message}")


@dataclass(slots=True)
class ParsedArticle:
    article: dict
    paragraphs: list[dict]


# --------------------------------------------------------------------------------------------
# Bytes → element tree, safely
# --------------------------------------------------------------------------------------------
_local = threading.local()


def _parser() -> etree.XMLParser:
    # XMLParser objects are not thread-safe; one per thread, reused (creation is not free).
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            recover=False,
        )
        _local.parser = parser
    return parser


_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^>\[]*\[", re.I)
_SUBSET_END = re.compile(rb"\]\s*>")
_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_SINGLE_BYTE = re.compile(r"^(iso-?8859-\d+|latin-?\d|windows-125\d|cp125\d|us-ascii|ascii)$", re.I)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13))


def _precheck(data: bytes) -> None:
    """Cheap byte-level checks that give clearer reasons than libxml2's messages."""
    if not data or not data[:4096].strip() and not data.strip():
        raise JatsError("empty", "document is empty")
    head = data[:4096]
    if not head.startswith(_BOMS[1:]):  # UTF-16 legitimately contains NULs
        if head.startswith(b"\x1f\x8b"):
            raise JatsError("binary", "gzip-compressed data, not XML")
        junk = len(head) - len(head.translate(None, _CONTROL))
        if b"\x00" in head or junk > len(head) // 100 + 1:
            raise JatsError("binary", f"binary data ({junk} control bytes in the first {len(head)})")
    # An internal DTD subset is the only place entities can be declared. Real PMC files carry
    # an external DOCTYPE with no subset; a subset declaring entities is XXE/billion laughs.
    start = data.find(b"<!DOCTYPE", 0, 65536)
    m = _DOCTYPE_SUBSET.match(data, start) if start >= 0 else None
    if m:
        end = _SUBSET_END.search(data, m.end())
        subset = data[m.end() : end.start() if end else len(data)]
        if b"<!ENTITY" in subset.upper():
            raise JatsError("entity_declaration", "DOCTYPE internal subset declares entities (XXE / entity expansion refused)")
    m = _XML_DECL_ENCODING.match(head)
    if m:
        declared = m.group(1).decode("ascii")
        if _SINGLE_BYTE.match(declared) and not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:  # non-ASCII bytes that form valid UTF-8: the declaration lies (mojibake)
                raise JatsError("encoding", f"declared encoding {declared} but the bytes are UTF-8")


def _classify(err: Exception) -> JatsError:
    msg = str(err)
    low = msg.lower()
    if "document is empty" in low:
        return JatsError("empty", msg)
    if "encoding" in low or "utf-8" in low or "utf-16" in low or "invalid bytes" in low:
        return JatsError("encoding", msg)
    if "entity" in low and ("amplification" in low or "loop" in low or "declared" in low):
        return JatsError("entity_declaration", msg)
    if "huge" in low or "depth" in low or "too long" in low:
        return JatsError("too_large", msg)
    return JatsError("malformed_xml", msg)


# An external DOCTYPE (no internal subset) with sloppy spacing, e.g. `<!DOCTYPE article PUBLIC"-//NLM…"`
# as found in real PMC bulk files. It is never loaded, only its syntax can break the parse.
_EXTERNAL_DOCTYPE = re.compile(
    rb"<!DOCTYPE\s*([\w:.-]+)\s*(?:(PUBLIC)\s*(\"[^\"]*\"|'[^']*')|(SYSTEM))\s*(\"[^\"]*\"|'[^']*')?\s*>"
)


def _repair_doctype(data: bytes) -> bytes | None:
    """Rewrite a malformed external DOCTYPE with canonical spacing; None if there is none."""
    m = _EXTERNAL_DOCTYPE.search(data, 0, 65536)
    if not m:
        return None
    name, public, public_id, system, system_id = m.groups()
    parts = [b"<!DOCTYPE", name]
    if public:
        parts += [b"PUBLIC", public_id]
    else:
        parts.append(b"SYSTEM")
    if system_id:
        parts.append(system_id)
    elif public is None:
        return None
    fixed = b" ".join(parts) + b">"
    if fixed == m.group(0):
        return None
    return data[: m.start()] + fixed + data[m.end() :]


# Elements we never extract from, cut out of the bytes before parsing: reference lists (~37% of
# the bytes of a PMC file) and table bodies (~10%). Parsing is the dominant cost, so this buys
# much of our speed; rarer unused elements are not worth a scan of the document. Each cut is a
# balanced element span; anything unexpected (unbalanced tags, a parse error afterwards) falls back
# to parsing the untouched bytes, so a cut can never turn a good document into a bad one. Table
# captions survive (they sit outside <table>), and xml_path indices are unaffected (they count
# same-tag siblings and neither tag is ever emitted).
_NAME_END = frozenset(b" \t\r\n>/")


def _find_open(data: bytes, open_tag: bytes, pos: int, end: int | None = None) -> int:
    n = len(open_tag)
    if end is None:
        end = len(data)
    while True:
        i = data.find(open_tag, pos, end)
        if i < 0 or data[i + n] in _NAME_END:  # "<table" must not match "<table-wrap"
            return i
        pos = i + n


def _spans(data: bytes, open_tag: bytes, close_tag: bytes) -> list[tuple[int, int]] | None:
    """Balanced [start, end) spans of every outermost ``open_tag`` element; None if unbalanced.

    Each search is bounded so the document is scanned about once per tag."""
    spans = []
    start = _find_open(data, open_tag, 0)
    while start >= 0:
        gt = data.find(b">", start)
        if gt < 0:
            return None
        if data[gt - 1] == 0x2F:  # self-closing <ref-list/>
            end = gt + 1
        else:
            depth, scan = 1, gt + 1
            while depth:
                close = data.find(close_tag, scan)
                if close < 0:
                    return None
                nested = _find_open(data, open_tag, scan, close)
                if nested >= 0:
                    ngt = data.find(b">", nested, close)
                    if ngt < 0:
                        return None
                    if data[ngt - 1] != 0x2F:
                        depth += 1
                    scan = ngt + 1
                else:
                    depth -= 1
                    scan = close + len(close_tag)
            end = scan
        spans.append((start, end))
        start = _find_open(data, open_tag, end)
    return spans


def _last_ref_list(data: bytes) -> tuple[int, int] | None:
    """Span of the last <ref-list>, found from the end (it sits in <back>, near the end of the
    file, so this touches only the reference list's bytes). Other ref-lists (sub-articles, nested
    ones) are simply parsed and ignored; a nested last one yields an unbalanced cut, which the
    caller's parse rejects before falling back to the untouched bytes."""
    close = data.rfind(b"</ref-list>")
    if close < 0:
        return None
    pos = close
    while True:
        start = data.rfind(b"<ref-list", 0, pos)
        if start < 0:
            return None
        if data[start + 9] in _NAME_END:
            return start, close + 11
        pos = start


def _cut_unused(data: bytes) -> bytes:
    ref = _last_ref_list(data)
    if ref is None:
        spans = _spans(data, b"<table", b"</table>")
    else:
        # tables are looked for outside the reference list only
        before = _spans(data[: ref[0]], b"<table", b"</table>")
        after = _spans(data[ref[1] :], b"<table", b"</table>")
        if before is None or after is None:
            spans = None
        else:
            spans = [*before, ref, *((a + ref[1], b + ref[1]) for a, b in after)]
    if not spans:
        return data if ref is None else data[: ref[0]] + data[ref[1] :]
    pieces = []
    pos = 0
    for start, end in spans:
        pieces.append(data[pos:start])
        pos = end
    pieces.append(data[pos:])
    return b"".join(pieces)


def _fromstring(data: bytes):
    """Parse the cut bytes when that works, else the untouched bytes (whose error propagates)."""
    try:
        cut = _cut_unused(data)
    except IndexError:  # a tag name at the very end of truncated bytes
        cut = data
    if cut is not data:
        try:
            return etree.fromstring(cut, _parser())
        except (etree.XMLSyntaxError, ValueError, LookupError):
            pass  # judge the original bytes instead
    return etree.fromstring(data, _parser())


def _parse_xml(data: bytes):
    _precheck(data)
    try:
        try:
            root = _fromstring(data)
        except etree.XMLSyntaxError as err:
            msg = str(err)
            repaired = _repair_doctype(data) if ("DOCTYPE" in msg or "PUBLIC" in msg or "SYSTEM" in msg) else None
            if repaired is None:
                raise _classify(err) from None
            try:
                root = _fromstring(repaired)
            except etree.XMLSyntaxError as err2:
                raise _classify(err2) from None
    except (ValueError, LookupError) as err:  # e.g. unknown encoding names on some libxml2 builds
        raise JatsError("encoding", str(err)[:300]) from None
    return _check_dtd(root)


def _check_dtd(root):
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):  # belt and braces
        raise JatsError("entity_declaration", "DOCTYPE declares entities")
    return root


# --------------------------------------------------------------------------------------------
# Document → articles
# --------------------------------------------------------------------------------------------
def _local_name(tag) -> str:
    return tag.rpartition("}")[2] if tag.__class__ is str else ""


def _strip_namespace(article) -> None:
    """OAI-PMH articles use a default JATS namespace; drop it so one code path serves all."""
    tag = article.tag
    if not tag.startswith("{"):
        return
    ns = tag[: tag.index("}") + 1]
    n = len(ns)
    for el in article.iter():
        t = el.tag
        if t.__class__ is str and t.startswith(ns):
            el.tag = t[n:]


def _find_articles(root) -> list[tuple[object, str | None]]:
    """(article element, OAI identifier or None) for every article in the document."""
    name = _local_name(root.tag)
    if name == "article":
        return [(root, None)]
    if name in ("articles", "pmc-articleset"):
        return [(child, None) for child in root if _local_name(child.tag) == "article"]
    if name == "OAI-PMH":
        error = root.find(OAI_NS + "error")
        if error is not None:
            raise JatsError("oai_error", f"OAI-PMH error {error.get('code')}: {(error.text or '').strip()}")
        found = []
        for record in root.iter(OAI_NS + "record"):
            header = record.find(OAI_NS + "header")
            ident = header.findtext(OAI_NS + "identifier") if header is not None else None
            if header is not None and header.get("status") == "deleted":
                continue
            metadata = record.find(OAI_NS + "metadata")
            if metadata is None:
                continue
            for child in metadata:
                if _local_name(child.tag) == "article":
                    found.append((child, ident.strip() if ident else None))
        return found
    raise JatsError("not_jats", f"root element <{name or root.tag}> is not a JATS article or article set")


def _paragraph_units(article) -> list:
    """All paragraph units of one article in reading order."""
    walker = Walker()
    lang = article.get(XML_LANG)
    front = article.find("front")
    meta = front.find("article-meta") if front is not None else None
    if meta is not None:
        counts: dict[str, int] = {}
        for child in meta:
            tag = child.tag
            if tag in ("abstract", "trans-abstract"):
                i = counts.get(tag, 0)
                counts[tag] = i + 1
                title = section_title(child)
                walker.walk(child, tag, [title] if title else [], f"front/article-meta/{tag}[{i}]",
                            child.get(XML_LANG) or lang)
    for tag, zone in (("body", "body"), ("back", "back"), ("floats-group", "caption")):
        el = article.find(tag)
        if el is not None:
            walker.walk(el, zone, [], tag, lang)
    _sub_articles(walker, article, "", [], lang)
    return walker.units


def _sub_articles(walker: Walker, parent, prefix: str, titles: list, lang) -> None:
    counts: dict[str, int] = {}
    for child in parent:
        tag = child.tag
        if tag not in ("sub-article", "response"):
            continue
        i = counts.get(tag, 0)
        counts[tag] = i + 1
        path = f"{prefix}{tag}[{i}]"
        sub_lang = child.get(XML_LANG) or lang
        stub = child.find("front-stub")
        if stub is None:
            stub = child.find("front")
        title_el = None
        if stub is not None:
            title_el = stub.find("title-group/article-title")
            if title_el is None:
                title_el = stub.find("article-meta/title-group/article-title")
        sub_titles = titles
        if title_el is not None:
            title = normalize_text(element_text(title_el))
            if title:
                sub_titles = [*titles, title]
        if stub is not None:
            meta = stub.find("article-meta")
            holder = meta if meta is not None else stub
            acounts: dict[str, int] = {}
            stub_path = f"{path}/front-stub" if stub.tag == "front-stub" else f"{path}/front"
            if meta is not None:
                stub_path += "/article-meta"
            for sub in holder:
                if sub.tag in ("abstract", "trans-abstract"):
                    j = acounts.get(sub.tag, 0)
                    acounts[sub.tag] = j + 1
                    atitle = section_title(sub)
                    walker.walk(sub, "sub-article", [*sub_titles, atitle] if atitle else sub_titles,
                                f"{stub_path}/{sub.tag}[{j}]", sub.get(XML_LANG) or sub_lang)
        for part in ("body", "back", "floats-group"):
            el = child.find(part)
            if el is not None:
                walker.walk(el, "sub-article", sub_titles, f"{path}/{part}", sub_lang)
        _sub_articles(walker, child, f"{path}/", sub_titles, sub_lang)


def _build(article, oai_ident, source, doc_index, n_docs, detect_language, language_rules=None) -> ParsedArticle:
    from pipeline.langid import LanguageRules, article_languages, iso639_1, paragraph_language, primary_language

    rules = language_rules or LanguageRules()
    _strip_namespace(article)
    meta = extract_meta(article, oai_ident)
    if meta["pmcid"]:
        article_id = meta["pmcid"]
    elif meta["doi"]:
        article_id = "doi:" + meta["doi"]
    else:
        # several id-less articles in one file must not share an id
        article_id = fallback_id(source if n_docs == 1 else f"{source}#{doc_index}")
    units = _paragraph_units(article)
    texts = [u.text for u in units]
    if detect_language and texts:
        from pipeline.langid import identify_batch

        detected = identify_batch(texts)
    else:
        detected = [(None, None)] * len(texts)
    paragraphs = []
    for ordinal, (unit, (detected_lang, score)) in enumerate(zip(units, detected)):
        n_words = count_words_normalized(unit.text)
        # detection on: a language only where it is reliable (pipeline/langid.py); off: the
        # declared xml:lang, unverified
        lang = paragraph_language(detected_lang, score, n_words, rules) if detect_language else iso639_1(unit.lang)
        paragraphs.append(
            {
                "paragraph_id": f"{article_id}:{ordinal:05d}",
                "article_id": article_id,
                "ordinal": ordinal,
                "zone": unit.zone,
                "section_path": unit.section_path,
                "xml_path": unit.xml_path,
                "text": unit.text,
                "n_words": n_words,
                "language": lang,
                "language_detected": detected_lang,
                "language_score": score,
            }
        )
    language = primary_language(meta["language"], paragraphs)
    languages = article_languages(meta["declared_languages"], paragraphs, rules)
    row = {
        "article_id": article_id,
        "pmid": meta["pmid"],
        "doi": meta["doi"],
        "title": meta["title"],
        "journal": meta["journal"],
        "year": meta["year"],
        "article_type": meta["article_type"],
        "license": meta["license"],
        "license_url": meta["license_url"],
        "commercial": is_commercial(meta["license"]),
        "retracted": meta["retracted"],
        "language": language,
        "languages": languages,
        "source": source,
        "last_updated": None,
        "n_paragraphs": len(paragraphs),
    }
    return ParsedArticle(row, paragraphs)


def parse_document(
    data: bytes,
    source: str,
    *,
    detect_language: bool = True,
    errors: list | None = None,
    language_rules=None,
) -> list[ParsedArticle]:
    """Parse one XML document (bytes) into its articles. Raises :class:`JatsError`.

    ``errors``: when given, per-article failures of a multi-article document are appended to it
    (as ``JatsError(reason="article_failed")``) instead of being only logged.
    ``language_rules``: a ``pipeline.langid.LanguageRules`` (thresholds); default: its defaults.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_document expects bytes")
    if not isinstance(data, bytes):
        data = bytes(data)
    root = _parse_xml(data)
    found = _find_articles(root)
    if not found:
        raise JatsError("no_articles", f"<{_local_name(root.tag)}> holds no article")
    results: list[ParsedArticle] = []
    failures: list[JatsError] = []
    for index, (article, ident) in enumerate(found):
        try:
            results.append(_build(article, ident, source, index, len(found), detect_language, language_rules))
        except Exception as exc:  # one bad article must not sink its siblings
            if len(found) == 1:
                raise JatsError("article_failed", f"{type(exc).__name__}: {exc}") from exc
            failure = JatsError("article_failed", f"article {index}: {type(exc).__name__}: {exc}")
            failures.append(failure)
            log.warning("%s: %s", source, failure)
    if not results:
        raise failures[0]
    if errors is not None:
        errors.extend(failures)
    return results
