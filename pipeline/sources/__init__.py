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

Modules, one job each:

- ``units``: the value types passed between them (``InputUnit``, ``Document``, ``Problem``, ...);
- ``discovery``: input arguments → work units (``discover_inputs``);
- ``filelist``: PMC's ``.filelist.csv``: parse, read, write, and make its metadata win;
- ``reading``: stream a unit's documents (``read_unit``, ``read_package``, ``iter_tar_members``);
- ``package_writer``: write a package in PMC's bulk layout (tests, benchmarks, re-packaging).
"""

from pipeline.sources.discovery import (
    discover_inputs,
    is_document_file,
    is_package,
    package_group,
    package_stem,
)
from pipeline.sources.filelist import (
    FILELIST_HEADER,
    FILELIST_SUFFIXES,
    FilelistEntry,
    apply_package_metadata,
    normalise_member,
    parse_filelist,
    read_filelist,
)
from pipeline.sources.package_writer import write_package
from pipeline.sources.reading import (
    BAD_GZIP,
    MEMBER_TOO_LARGE,
    MISSING_MEMBER,
    NOT_XML_MEMBER,
    READ_ERROR,
    TRUNCATED_ARCHIVE,
    TruncatedArchive,
    iter_tar_members,
    read_file,
    read_package,
    read_unit,
)
from pipeline.sources.units import (
    FILE_SUFFIXES,
    MEMBER_SUFFIXES,
    PACKAGE_SUFFIXES,
    SEP,
    Discovery,
    Document,
    InputNotFound,
    InputUnit,
    Problem,
)

__all__ = [
    "BAD_GZIP", "FILELIST_HEADER", "FILELIST_SUFFIXES", "FILE_SUFFIXES", "MEMBER_SUFFIXES", "MEMBER_TOO_LARGE",
    "MISSING_MEMBER", "NOT_XML_MEMBER", "PACKAGE_SUFFIXES", "READ_ERROR", "SEP", "TRUNCATED_ARCHIVE",
    "Discovery", "Document", "FilelistEntry", "InputNotFound", "InputUnit", "Problem", "TruncatedArchive",
    "apply_package_metadata", "discover_inputs", "is_document_file", "is_package", "iter_tar_members",
    "normalise_member", "package_group", "package_stem", "parse_filelist", "read_file", "read_filelist",
    "read_package", "read_unit", "write_package",
]
