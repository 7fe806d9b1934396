"""The value types passed between discovery and reading: work units, documents, problems."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pipeline.sources.filelist import FilelistEntry

PACKAGE_SUFFIXES = (".tar.gz", ".tgz")
FILE_SUFFIXES = (".xml", ".nxml", ".xml.gz", ".nxml.gz")
MEMBER_SUFFIXES = (".xml", ".nxml")
SEP = "::"  # between a package's name and a member's name in ``source``


class InputNotFound(FileNotFoundError):
    """An input argument names nothing readable."""


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
    # kind == "files": each file's own fingerprint (size, ETag, mtime), in ``files`` order, so a
    # file edited in place at the same size is noticed whatever the chunking.
    file_fingerprints: tuple[str, ...] = ()

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
