"""PMC's per-package ``.filelist.csv`` (or the older tab-separated ``.filelist.txt``): parse and
read it, write it, and make its metadata win over the XML's."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import fsspec

log = logging.getLogger(__name__)

FILELIST_SUFFIXES = (".filelist.csv", ".filelist.txt")
FILELIST_HEADER = ("Article File", "Article Citation", "AccessionID", "LastUpdated (YYYY-MM-DD HH:MM:SS)",
                   "PMID", "License", "Retracted")
_PMCID = re.compile(r"^PMC\d+$")


@dataclass(frozen=True)
class FilelistEntry:
    """One row of a bulk package's ``.filelist.csv``."""

    member: str  # "PMC002xxxxxx/PMC2231364.xml"
    accession: str | None  # "PMC2231364"
    last_updated: datetime | None  # UTC
    pmid: str | None
    license: str | None  # raw column value: "CC BY", "CC BY-NC-ND", "NO-CC CODE", ...
    retracted: bool
    citation: str | None = None


def normalise_member(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _parse_timestamp(value: str | None) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def parse_filelist(text: str, delimiter: str = ",") -> dict[str, FilelistEntry]:
    """Parse a PMC filelist into ``{member path: entry}``.

    Columns are matched by name prefix (``LastUpdated (YYYY-MM-DD HH:MM:SS)``), so the older
    ``.filelist.txt`` layout (tab-separated, same names) works too. Rows without a file are skipped.
    """
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = {(c or "").split("(")[0].strip().lower(): c for c in (reader.fieldnames or [])}

    def col(row: dict, key: str) -> str | None:
        name = columns.get(key)
        value = row.get(name) if name else None
        value = value.strip() if isinstance(value, str) else None
        return value or None

    if "article file" not in columns:
        raise ValueError(f"not a PMC filelist: columns {reader.fieldnames}")
    out: dict[str, FilelistEntry] = {}
    for row in reader:
        member = col(row, "article file")
        if not member:
            continue
        member = normalise_member(member)
        out[member] = FilelistEntry(
            member=member,
            accession=col(row, "accessionid"),
            last_updated=_parse_timestamp(col(row, "lastupdated")),
            pmid=col(row, "pmid"),
            license=col(row, "license"),
            retracted=(col(row, "retracted") or "").lower() in ("yes", "y", "true", "1"),
            citation=col(row, "article citation"),
        )
    return out


def read_filelist(url: str) -> dict[str, FilelistEntry]:
    with fsspec.open(url, "rb") as fh:
        text = fh.read().decode("utf-8-sig", errors="replace")
    return parse_filelist(text, delimiter="\t" if url.lower().endswith(".txt") else ",")


def format_filelist(entries: Iterable[FilelistEntry]) -> str:
    """The ``.filelist.csv`` text PMC would publish for these rows (what ``parse_filelist`` reads)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FILELIST_HEADER)
    for e in entries:
        writer.writerow([e.member, e.citation or "", e.accession or "",
                         e.last_updated.strftime("%Y-%m-%d %H:%M:%S") if e.last_updated else "",
                         e.pmid or "", e.license or "", "yes" if e.retracted else "no"])
    return out.getvalue()


def apply_package_metadata(article: dict, paragraphs: list[dict], meta: FilelistEntry | None,
                           group: str | None, single: bool) -> None:
    """Make the package's metadata win over the XML's, in place.

    - filelist row: licence (normalised), PMID (when the row has one), LastUpdated and Retracted
      override the XML; ``commercial`` follows the normalised filelist licence (PMC's grouping).
    - no filelist but a known package group: ``commercial`` = the group is ``oa_comm``.
    - the filelist's AccessionID is the article's id when the member holds one article whose XML
      gave another id (no PMC id in an old DTD); paragraph ids follow.
    Filelist rows apply to the member's article; in a (rare) multi-article member only to the
    article whose id equals the AccessionID.
    """
    from pipeline.license import is_commercial, normalize_license

    if meta is not None and (single or article.get("article_id") == meta.accession):
        if meta.license:
            article["license"] = normalize_license(meta.license)
            article["commercial"] = is_commercial(article["license"])
            if group and (group == "oa_comm") != article["commercial"]:
                log.debug("%s: filelist licence %r disagrees with package group %s",
                          article.get("source"), meta.license, group)
        elif group:
            article["commercial"] = group == "oa_comm"
        if meta.pmid:
            article["pmid"] = meta.pmid
        article["last_updated"] = meta.last_updated
        article["retracted"] = meta.retracted
        if single and meta.accession and _PMCID.match(meta.accession) and article.get("article_id") != meta.accession:
            new_id = meta.accession
            log.debug("%s: id %s -> %s from the filelist", article.get("source"), article.get("article_id"), new_id)
            article["article_id"] = new_id
            for p in paragraphs:
                p["article_id"] = new_id
                p["paragraph_id"] = f"{new_id}:{int(p['ordinal']):05d}"
    elif group:
        article["commercial"] = group == "oa_comm"
