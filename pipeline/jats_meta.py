"""Article-level metadata from ``<front>``: ids, title, journal, year, type, licence, retraction,
declared languages."""

from __future__ import annotations

import hashlib
import re

from pipeline.jats_text import XLINK_HREF, XML_LANG, element_text
from pipeline.license import first_license
from pipeline.text import normalize_text

ALI_LICENSE_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"
_PMC_ID = re.compile(r"^\s*(?:PMC)?0*(\d+)\s*$", re.I)
_OAI_PMC = re.compile(r"^oai:pubmedcentral\.nih\.gov:(\d+)$")
_DOI = re.compile(r"(10\.\d{4,9}/\S+)")
_YEAR = re.compile(r"(1[89]\d\d|2[01]\d\d)")
PMC_ID_TYPES = ("pmc", "pmcid", "pmc-uid", "pmcaid", "accession")
# pub-date preference: the order epub → ppub → collection → any publication date
_DATE_RANK = {"epub": 0, "electronic": 0, "ppub": 1, "print": 1, "epub-ppub": 1, "collection": 2, "pub": 3}
RETRACTION_TYPES = frozenset({"retraction", "retracted-article", "retraction-forward"})


def normalize_pmcid(value: str | None) -> str | None:
    """``"PMC0123"``, ``"123"``, ``"oai:pubmedcentral.nih.gov:123"`` → ``"PMC123"``; else None."""
    if not value:
        return None
    m = _PMC_ID.match(value) or _OAI_PMC.match(value.strip())
    return f"PMC{int(m.group(1))}" if m else None


def normalize_doi(value: str | None) -> str | None:
    if not value:
        return None
    m = _DOI.search(value.strip())
    return m.group(1).rstrip(".").lower() if m else None


def fallback_id(source: str) -> str:
    return "src:" + hashlib.sha1(source.encode("utf-8")).hexdigest()[:16]


def _text(el) -> str | None:
    if el is None:
        return None
    text = normalize_text(element_text(el))
    return text or None


def _year(meta) -> int | None:
    best: tuple[int, int] | None = None
    for date in meta.iterfind("pub-date"):
        kind = date.get("pub-type") or date.get("date-type") or ""
        if kind == "pub":  # JATS ≥ 1.1: date-type="pub" + publication-format
            kind = date.get("publication-format") or "pub"
        rank = _DATE_RANK.get(kind, 4)  # pmc-release and unknown kinds last
        year_el = date.find("year")
        m = _YEAR.search(year_el.text or "") if year_el is not None and year_el.text else None
        if m and (best is None or rank < best[0]):
            best = (rank, int(m.group(1)))
    return best[1] if best else None


def _license(meta) -> tuple[str, str | None]:
    """(normalised licence, licence URL). URLs are trusted before statement text."""
    urls: list[str] = []
    texts: list[str] = []
    permissions = meta.find("permissions")
    if permissions is not None:
        for lic in permissions.iter("license", ALI_LICENSE_REF):
            if lic.tag == ALI_LICENSE_REF:
                if lic.text and lic.text.strip():
                    urls.append(lic.text.strip())
                continue
            href = lic.get(XLINK_HREF)
            if href:
                urls.append(href.strip())
            for link in lic.iter("ext-link", "uri"):
                href = link.get(XLINK_HREF) or (link.text or "").strip()
                if href:
                    urls.append(href)
            texts.append(" ".join(lic.itertext()))
            license_type = lic.get("license-type")
            if license_type:
                texts.append(license_type)
    license_ = first_license([*urls, *texts])
    url = next((u for u in urls if "creativecommons.org" in u), urls[0] if urls else None)
    return license_, url


# Elements whose xml:lang declares a language the article is (partly) written in: the article
# itself, translated abstracts and sub-articles (translations, decision letters, replies).
_DECLARING = ("abstract", "trans-abstract", "sub-article", "response")


def declared_languages(article) -> list[str]:
    """Raw ``xml:lang`` values declared by the article, its (trans-)abstracts and sub-articles, in
    document order, without duplicates. An abstract that holds no text declares nothing."""
    found: list[str] = []
    own = (article.get(XML_LANG) or "").strip()
    if own:
        found.append(own)
    for el in article.iter(*_DECLARING):
        lang = (el.get(XML_LANG) or "").strip()
        if not lang or lang in found:
            continue
        if el.tag in ("abstract", "trans-abstract") and not normalize_text(element_text(el)):
            continue
        found.append(lang)
    return found


def extract_meta(article, oai_identifier: str | None = None) -> dict:
    """Metadata of one <article> (namespaces already stripped). Missing parts → None."""
    front = article.find("front")
    meta = front.find("article-meta") if front is not None else None
    journal_meta = front.find("journal-meta") if front is not None else None
    pmcid = pmid = doi = None
    title = journal = year = None
    license_, license_url = "none", None
    retracted = article.get("article-type", "") in RETRACTION_TYPES
    if meta is not None:
        for aid in meta.iterfind("article-id"):
            kind = aid.get("pub-id-type")
            value = (aid.text or "").strip()
            if not value:
                continue
            if kind in PMC_ID_TYPES and pmcid is None:
                pmcid = normalize_pmcid(value)
            elif kind == "pmid" and pmid is None and value.isdigit():
                pmid = value
            elif kind == "doi" and doi is None:
                doi = normalize_doi(value)
        title = _text(meta.find("title-group/article-title"))
        year = _year(meta)
        license_, license_url = _license(meta)
        for related in meta.iter("related-article"):
            if related.get("related-article-type") in RETRACTION_TYPES:
                retracted = True
    if journal_meta is not None:
        journal = (
            _text(journal_meta.find("journal-title-group/journal-title"))
            or _text(journal_meta.find("journal-title"))
            or _text(journal_meta.find("journal-id[@journal-id-type='nlm-ta']"))
        )
    if pmcid is None and oai_identifier:
        pmcid = normalize_pmcid(oai_identifier)
    return {
        "pmcid": pmcid,
        "pmid": pmid,
        "doi": doi,
        "title": title,
        "journal": journal,
        "year": year,
        "article_type": article.get("article-type") or None,
        "license": license_,
        "license_url": license_url,
        "retracted": retracted,
        "language": (article.get(XML_LANG) or "").strip() or None,  # declared, raw
        "declared_languages": declared_languages(article),
    }
