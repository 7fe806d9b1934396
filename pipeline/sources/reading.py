"""Stream a work unit's documents: package members one at a time (tarfile's streaming mode),
loose files decompressed up to a size limit. Whatever cannot be handed to the parser comes out as
a ``Problem`` (a quarantine row with its reason), never as an exception."""

from __future__ import annotations

import gzip
import logging
import posixpath
import tarfile
import zlib
from collections.abc import Iterator

import fsspec

from pipeline.sources.filelist import FilelistEntry, normalise_member, read_filelist
from pipeline.sources.units import MEMBER_SUFFIXES, SEP, Document, InputUnit, Problem

log = logging.getLogger(__name__)

# Quarantine reasons produced while reading (the parser adds its own).
TRUNCATED_ARCHIVE = "truncated_archive"
MISSING_MEMBER = "missing_member"
MEMBER_TOO_LARGE = "member_too_large"
NOT_XML_MEMBER = "not_xml_member"
READ_ERROR = "read_error"
BAD_GZIP = "bad_gzip"
BAD_FILELIST = "bad_filelist"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TruncatedArchive(Exception):
    """The package's gzip/tar stream broke; members yielded before stay valid."""

    def __init__(self, member: str | None, message: str):
        super().__init__(message)
        self.member = member  # the member being read when the stream broke (lost), if any
        self.message = message


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
            yield Problem(f"{unit.name}{SEP}{posixpath.basename(unit.filelist_url)}", BAD_FILELIST, _short(exc))
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
        yield from _lost_to_truncation(unit, filelist, seen, n_read, truncated)
        return

    for member in sorted(m for m in filelist if m not in seen):
        yield Problem(f"{unit.name}{SEP}{member}", MISSING_MEMBER,
                      f"listed in {posixpath.basename(unit.filelist_url or '')} but absent from the archive")


def _lost_to_truncation(unit: InputUnit, filelist: dict[str, FilelistEntry], seen: set[str], n_read: int,
                        truncated: TruncatedArchive) -> Iterator[Problem]:
    """A ``truncated_archive`` Problem per listed member not read (and the one being read when the
    stream broke); without a filelist one row stands for the unknown rest."""
    if filelist:
        lost = {m for m in filelist if m not in seen}
        if truncated.member:
            lost.add(truncated.member)  # broke while reading it, listed or not
        for member in sorted(lost):
            yield Problem(f"{unit.name}{SEP}{member}", TRUNCATED_ARCHIVE,
                          f"the archive breaks after {n_read} complete members; this one is lost "
                          f"({truncated.message})")
    else:
        where = f"{SEP}{truncated.member}" if truncated.member else ""
        yield Problem(f"{unit.name}{where}", TRUNCATED_ARCHIVE,
                      f"the archive breaks after {n_read} complete members; any later member is "
                      f"unreadable ({truncated.message})")


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
