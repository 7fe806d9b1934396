"""Input discovery and streaming reads for ingest (pure Python, no Spark).

What counts as an input:

- PMC bulk packages ``*.tar.gz`` / ``*.tgz`` (members ``PMC00Nxxxxxx/PMC<id>.xml``, maybe ``.nxml``)
  with their sibling ``<package stem>.filelist.csv`` (or ``.filelist.txt``, tab-separated) when
  present. The filelist's License, PMID, LastUpdated and Retracted columns are authoritative.
- loose JATS files ``.xml`` / ``.nxml`` / ``.xml.gz`` / ``.nxml.gz``, found recursively in folders.

Paths are local paths or any fsspec URL (``s3://``, ``gs://``, ``hdfs://``, ``file://``...).
Everything is returned in a deterministic order (sorted by URL), and each document gets a
location-independent ``source`` name: its path relative to the *parent* of the input argument it
was found under (``pmc-oa-bulk/oa_comm/xml/<package>.tar.gz::PMC002xxxxxx/PMC2231364.xml``,
``jats-other/elife/elife00005.xml``), so the same data ingested from another folder or machine gets
the same sources and the same ``src:`` fallback ids.

Reading never holds more than one member in memory: packages are read with tarfile's streaming
mode, and a truncated archive keeps every member read before the break and reports the rest.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import logging
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import fsspec
from fsspec.core import url_to_fs

log = logging.getLogger(__name__)

PACKAGE_SUFFIXES = (".tar.gz", ".tgz")
FILE_SUFFIXES = (".xml", ".nxml", ".xml.gz", ".nxml.gz")
MEMBER_SUFFIXES = (".xml", ".nxml")
FILELIST_SUFFIXES = (".filelist.csv", ".filelist.txt")
PACKAGE_GROUPS = ("oa_comm", "oa_noncomm", "oa_other")
_GROUP_RE = re.compile(r"(?<![a-z])(oa_comm|oa_noncomm|oa_other)(?![a-z])")
SEP = "::"  # between a package's name and a member's name in ``source``

# Quarantine reasons produced while reading (the parser adds its own).
TRUNCATED_ARCHIVE = "truncated_archive"
MISSING_MEMBER = "missing_member"
MEMBER_TOO_LARGE = "member_too_large"
NOT_XML_MEMBER = "not_xml_member"
READ_ERROR = "read_error"
BAD_GZIP = "bad_gzip"


class InputNotFound(FileNotFoundError):
    """An input argument names nothing readable."""


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


@dataclass(frozen=True)
class InputUnit:
    """One unit of ingest work: a bulk package, or a (chunk of) loose files.

    ``url`` is what fsspec opens; ``name`` is the location-independent source name.
    """

    kind: str  # "package" | "files"
    url: str  # package URL ("" for a chunk of files)
    name: str  # package source name (or "files[<first>..]" for a chunk)
    size: int = 0
    filelist_url: str | None = None
    group: str | None = None  # oa_comm / oa_noncomm / oa_other when the path says so
    files: tuple[tuple[str, str, int], ...] = ()  # (url, source name, size) for kind == "files"
    fingerprint: str = ""  # changes when the unit's bytes probably changed (size, mtime)

    @property
    def key(self) -> str:
        """Stable id of this unit's work (for per-input staging)."""
        return hashlib.sha1(f"{self.kind}|{self.name}|{self.fingerprint}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Document:
    """One document to parse: a loose file or a package member."""

    source: str
    data: bytes
    meta: FilelistEntry | None = None
    group: str | None = None


@dataclass(frozen=True)
class Problem:
    """Something read could not be handed to the parser (becomes a quarantine row)."""

    source: str
    reason: str
    error: str


@dataclass
class Discovery:
    units: list[InputUnit] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files under the inputs we do not ingest

    @property
    def n_packages(self) -> int:
        return sum(u.kind == "package" for u in self.units)

    @property
    def n_files(self) -> int:
        return sum(len(u.files) for u in self.units if u.kind == "files")


# ----------------------------------------------------------------------------------- discovery

def _lower_name(path: str) -> str:
    return posixpath.basename(path.rstrip("/")).lower()


def is_package(path: str) -> bool:
    return _lower_name(path).endswith(PACKAGE_SUFFIXES)


def is_document_file(path: str) -> bool:
    name = _lower_name(path)
    return name.endswith(FILE_SUFFIXES) and not name.startswith(".")


def package_stem(path: str) -> str:
    name = posixpath.basename(path)
    for suffix in PACKAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def package_group(path: str) -> str | None:
    """PMC's licence group from the package's name (else from its folders)."""
    for part in (posixpath.basename(path), path):
        found = _GROUP_RE.findall(part.lower())
        if found:
            return found[-1]
    return None


def _fingerprint(info: dict) -> str:
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("updated") or ""
    return f"{info.get('size')}|{info.get('ETag') or info.get('etag') or ''}|{mtime}"


def _join(protocol: str, path: str) -> str:
    """Turn an fs-internal path back into a URL fsspec can open anywhere (executors too)."""
    if protocol in ("file", "local"):
        return path
    return f"{protocol}://{path}"


def discover_inputs(paths: Iterable[str], files_per_chunk: int = 5000) -> Discovery:
    """Expand input arguments into work units, in a deterministic order.

    Raises ``InputNotFound`` for an argument that matches nothing (a typo must not look like an
    empty corpus). Inputs named twice (or nested in another input) are read once.
    """
    packages: dict[str, InputUnit] = {}
    files: dict[str, tuple[str, str, int, str]] = {}  # url -> (url, name, size, fingerprint)
    listed_filelists: set[str] = set()  # filelists seen in folders
    ignored: set[str] = set()

    for arg in paths:
        fs, root = url_to_fs(str(arg))
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        root = root.rstrip("/") or root
        if any(ch in root for ch in "*?["):
            matches = sorted(fs.glob(root))
            if not matches:
                raise InputNotFound(f"input {arg!r} matches no file")
            base = posixpath.dirname(root.split("*")[0].split("?")[0].split("[")[0].rstrip("/"))
            candidates = []
            for m in matches:
                if fs.isdir(m):
                    candidates.extend((p, info) for p, info in sorted(fs.find(m, detail=True).items()))
                else:
                    candidates.append((m, fs.info(m)))
        elif fs.isdir(root):
            base = posixpath.dirname(root)
            candidates = sorted(fs.find(root, detail=True).items())
            if not candidates:
                log.warning("input %s is an empty folder", arg)
        elif fs.exists(root):
            base = posixpath.dirname(root)
            candidates = [(root, fs.info(root))]
        else:
            raise InputNotFound(f"input {arg!r} does not exist")

        for path, info in candidates:
            if info.get("type") == "directory":
                continue
            url = _join(protocol, path)
            name = posixpath.relpath(path, base) if base else path.lstrip("/")
            if _lower_name(path).startswith("."):
                continue  # editor / OS droppings (.DS_Store, ._foo.xml)
            if is_package(path):
                if url not in packages:
                    packages[url] = InputUnit(kind="package", url=url, name=name, size=int(info.get("size") or 0),
                                              group=package_group(path), fingerprint=_fingerprint(info))
            elif is_document_file(path):
                files.setdefault(url, (url, name, int(info.get("size") or 0), _fingerprint(info)))
            elif _lower_name(path).endswith(FILELIST_SUFFIXES):
                listed_filelists.add(url)
            else:
                ignored.add(name)

        # Filelists sit beside their package; find them even when the package was named alone.
        for url, unit in list(packages.items()):
            if unit.filelist_url is None:
                fl = _sibling_filelist(fs, protocol, url, listed_filelists)
                if fl:
                    packages[url] = _replace(unit, filelist_url=fl)

    used_filelists = {u.filelist_url for u in packages.values() if u.filelist_url}
    ignored.update(posixpath.basename(u) for u in listed_filelists if u not in used_filelists)

    units = _dedupe_names(sorted(packages.values(), key=lambda u: u.url))
    file_list = _dedupe_file_names(sorted(files.values()))
    for start in range(0, len(file_list), max(1, files_per_chunk)):
        chunk = file_list[start:start + max(1, files_per_chunk)]
        fp = hashlib.sha1("\n".join(f"{n}|{s}|{f}" for _, n, s, f in chunk).encode()).hexdigest()
        units.append(InputUnit(kind="files", url="", name=f"files[{chunk[0][1]} .. {chunk[-1][1]}]",
                               size=sum(s for _, _, s, _ in chunk),
                               files=tuple((u, n, s) for u, n, s, _ in chunk), fingerprint=fp))
    return Discovery(units=units, ignored=sorted(ignored))


def _replace(unit: InputUnit, **changes) -> InputUnit:
    return dataclasses.replace(unit, **changes)


def _sibling_filelist(fs, protocol: str, package_url: str, listed: set[str]) -> str | None:
    stem_url = posixpath.join(posixpath.dirname(package_url), package_stem(package_url))
    for suffix in FILELIST_SUFFIXES:
        candidate = stem_url + suffix
        if candidate in listed:
            return candidate
        _, path = url_to_fs(candidate)
        try:
            if fs.exists(path):
                return candidate
        except OSError:  # pragma: no cover - remote fs hiccup: treat as absent, the XML has the metadata
            log.warning("could not check for filelist %s", candidate)
    return None


def _dedupe_names(units: list[InputUnit]) -> list[InputUnit]:
    """Two inputs can yield the same relative name (two different ``data/`` folders): fall back
    to the full URL for those so ``source`` stays unique."""
    seen: dict[str, int] = {}
    for u in units:
        seen[u.name] = seen.get(u.name, 0) + 1
    return [u if seen[u.name] == 1 else _replace(u, name=u.url) for u in units]


def _dedupe_file_names(files: list[tuple[str, str, int, str]]) -> list[tuple[str, str, int, str]]:
    count: dict[str, int] = {}
    for _, name, _, _ in files:
        count[name] = count.get(name, 0) + 1
    out = [(u, n if count[n] == 1 else u, s, f) for u, n, s, f in files]
    return sorted(out, key=lambda t: t[1])


# ------------------------------------------------------------------------------------ filelists

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


def normalise_member(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


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


# -------------------------------------------------------------------------------------- reading

def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


# What a broken gzip/tar stream raises, depending on where it breaks.
_STREAM_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError)


def iter_tar_members(fileobj, max_member_bytes: int) -> Iterator[tuple[str, bytes | None, str | None]]:
    """Stream a ``.tar.gz``: yield ``(member name, bytes, None)`` one member at a time, or
    ``(name, None, reason)`` for a member that is skipped (too large, not XML).

    A stream that breaks raises ``TruncatedArchive`` carrying how far it got; everything yielded
    before stays valid. Only regular files are yielded; folders and links are skipped.
    """
    reading = None  # the member whose bytes are being read, lost if the stream breaks now
    try:
        with tarfile.open(fileobj=fileobj, mode="r|gz") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                name = normalise_member(member.name)
                if not name.lower().endswith(MEMBER_SUFFIXES):
                    yield name, None, NOT_XML_MEMBER
                    continue
                if member.size > max_member_bytes:
                    yield name, None, MEMBER_TOO_LARGE  # skipped unread: tarfile reads past it
                    continue
                reading = name
                fh = tf.extractfile(member)
                data = fh.read() if fh is not None else b""
                if len(data) != member.size:
                    raise TruncatedArchive(name, f"member {name} has {len(data)} of {member.size} bytes")
                reading = None
                yield name, data, None
    except TruncatedArchive:
        raise
    except _STREAM_ERRORS as exc:
        raise TruncatedArchive(reading, _short(exc)) from exc


class TruncatedArchive(Exception):
    def __init__(self, member: str | None, message: str):
        super().__init__(message)
        self.member = member  # the member being read when the stream broke (lost), if any
        self.message = message


def read_package(unit: InputUnit, max_member_bytes: int) -> Iterator[Document | Problem]:
    """Every member of a bulk package as a ``Document`` (with its filelist row), in archive order,
    plus a ``Problem`` for each member that cannot be parsed and each filelist row that has no
    member.

    Accounting: every filelist row and every archive member ends up as exactly one Document or
    Problem. A truncated archive yields a ``truncated_archive`` Problem per listed member that was
    not read (or one for the whole rest of the package when there is no filelist).
    """
    filelist: dict[str, FilelistEntry] = {}
    if unit.filelist_url:
        try:
            filelist = read_filelist(unit.filelist_url)
        except Exception as exc:  # unreadable filelist: the XML still carries the metadata
            log.warning("%s: filelist unreadable (%s); using the XML's metadata", unit.filelist_url, exc)
            yield Problem(f"{unit.name}{SEP}{posixpath.basename(unit.filelist_url)}", "bad_filelist", _short(exc))
    seen: set[str] = set()
    n_read = 0
    truncated: TruncatedArchive | None = None
    try:
        with fsspec.open(unit.url, "rb") as raw:
            for name, data, skip_reason in iter_tar_members(raw, max_member_bytes):
                seen.add(name)
                n_read += 1
                source = f"{unit.name}{SEP}{name}"
                if skip_reason == MEMBER_TOO_LARGE:
                    yield Problem(source, skip_reason, f"member is larger than max_member_bytes={max_member_bytes}")
                elif skip_reason == NOT_XML_MEMBER:
                    yield Problem(source, skip_reason, "package member is not .xml/.nxml")
                else:
                    yield Document(source, data, filelist.get(name), unit.group)
    except TruncatedArchive as exc:
        truncated = exc
    except (FileNotFoundError, PermissionError) as exc:  # vanished or unreadable since discovery
        log.error("%s: cannot read package: %s", unit.name, exc)
        yield Problem(unit.name, READ_ERROR, _short(exc))
        return

    if truncated is not None:
        log.warning("%s: archive truncated after %d members: %s", unit.name, n_read, truncated.message)
        if filelist:
            lost = {m for m in filelist if m not in seen}
            if truncated.member:
                lost.add(truncated.member)  # broke while reading it, listed or not
            for member in sorted(lost):
                yield Problem(f"{unit.name}{SEP}{member}", TRUNCATED_ARCHIVE,
                              f"the archive breaks after {n_read} complete members; this one is lost "
                              f"({truncated.message})")
        else:
            # Without a filelist we cannot know what followed: one row stands for the rest.
            where = f"{SEP}{truncated.member}" if truncated.member else ""
            yield Problem(f"{unit.name}{where}", TRUNCATED_ARCHIVE,
                          f"the archive breaks after {n_read} complete members; any later member is "
                          f"unreadable ({truncated.message})")
        return

    for member in sorted(m for m in filelist if m not in seen):
        yield Problem(f"{unit.name}{SEP}{member}", MISSING_MEMBER,
                      f"listed in {posixpath.basename(unit.filelist_url or '')} but absent from the archive")


def read_file(url: str, source: str, max_bytes: int) -> Document | Problem:
    """One loose file (``.xml.gz`` decompressed, never beyond ``max_bytes``)."""
    try:
        with fsspec.open(url, "rb") as fh:
            if url.lower().endswith(".gz"):
                try:
                    with gzip.GzipFile(fileobj=fh) as gz:
                        data = gz.read(max_bytes + 1)
                except (OSError, EOFError, zlib.error) as exc:
                    return Problem(source, BAD_GZIP, _short(exc))
            else:
                data = fh.read(max_bytes + 1)
    except OSError as exc:
        return Problem(source, READ_ERROR, _short(exc))
    if len(data) > max_bytes:
        return Problem(source, MEMBER_TOO_LARGE, f"file is larger than max_member_bytes={max_bytes}")
    return Document(source, data)


def read_unit(unit: InputUnit, max_member_bytes: int) -> Iterator[Document | Problem]:
    """All documents and problems of one unit, in a deterministic order."""
    if unit.kind == "package":
        yield from read_package(unit, max_member_bytes)
    else:
        for url, name, _ in unit.files:
            yield read_file(url, name, max_member_bytes)


# ------------------------------------------------------------------------- filelist metadata

_PMCID = re.compile(r"^PMC\d+$")


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


# ------------------------------------------------------------------------------------ writing

FILELIST_HEADER = ("Article File", "Article Citation", "AccessionID", "LastUpdated (YYYY-MM-DD HH:MM:SS)",
                   "PMID", "License", "Retracted")


def write_package(path: str, members: Iterable[tuple[str, bytes]], filelist: Iterable[FilelistEntry] | None = None,
                  compresslevel: int = 6) -> None:
    """Write a package in PMC's bulk layout (``.tar.gz`` + sibling ``.filelist.csv``): for tests,
    benchmarks and re-packaging. Members are streamed; nothing is held beyond one member."""
    import time as _time

    with fsspec.open(path, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(_time.time())
            tf.addfile(info, io.BytesIO(data))
    if filelist is not None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FILELIST_HEADER)
        for e in filelist:
            writer.writerow([e.member, e.citation or "", e.accession or "",
                             e.last_updated.strftime("%Y-%m-%d %H:%M:%S") if e.last_updated else "",
                             e.pmid or "", e.license or "", "yes" if e.retracted else "no"])
        with fsspec.open(posixpath.join(posixpath.dirname(path), package_stem(path) + ".filelist.csv"), "w",
                         encoding="utf-8") as fh:
            fh.write(out.getvalue())
