"""Which collection a labelled paragraph's article came from: PMC bulk, eLife, SciELO, Europe PMC, other.

For the per-collection breakdown of the grouped cross-validation. A run's ``articles.source`` is a
path ("pmc-oa-bulk/oa_comm/xml/….tar.gz::PMC….xml", "jats-other/scielo/….xml"), so its folders
say the collection. A label file's ``source`` is only the article file's name ("elife00007.xml#0",
"PMC3310194.xml#0", "0034-8910-rsp-48-2-0347.xml#0"); names are matched against an index of a
data folder when one is given (``index_data_folder``), else by their shape. Shape alone cannot
tell a PMC bulk member from a loose PMC file, nor an opaque SciELO name from anything else: those
fall to "pmc_bulk" and "other" respectively, which is why the index is preferred.
"""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

COLLECTIONS = ("pmc_bulk", "elife", "scielo", "europe_pmc", "other")

# Folder names (any path part, lower-cased) → collection.
_FOLDERS = (("pmc-oa-bulk", "pmc_bulk"), ("oa_comm", "pmc_bulk"), ("oa_noncomm", "pmc_bulk"),
            ("oa_other", "pmc_bulk"), ("elife", "elife"), ("scielo", "scielo"), ("europepmc", "europe_pmc"),
            ("europe-pmc", "europe_pmc"))
_SCIELO_NAME = re.compile(r"^s?\d{4}-\d{3}[\dx]", re.IGNORECASE)  # ISSN-led names: 0034-8910-rsp-…
_EUROPEPMC_NAME = re.compile(r"^PMC\d+_PMC\d+", re.IGNORECASE)  # Europe PMC bundles: PMCa_PMCb.xml
_PMC_NAME = re.compile(r"^PMC\d+\.n?xml$", re.IGNORECASE)


def _file_name(source: str) -> str:
    name = source.split("#", 1)[0]
    name = name.rsplit("::", 1)[-1]
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _by_folders(path: str) -> str | None:
    parts = [p.lower() for p in re.split(r"[/\\]|::", path)]
    for part in parts:
        for folder, collection in _FOLDERS:
            if folder in part:
                return collection
    return None


def collection_of(source: str | None, index: dict[str, str] | None = None) -> str:
    """The collection of one article source (path or file name)."""
    if not source:
        return "other"
    found = _by_folders(source.split("#", 1)[0])
    if found:
        return found
    name = _file_name(source)
    if index and name in index:
        return index[name]
    if name.lower().startswith("elife"):
        return "elife"
    if _EUROPEPMC_NAME.match(name):
        return "europe_pmc"
    if _SCIELO_NAME.match(name):
        return "scielo"
    if _PMC_NAME.match(name):
        return "pmc_bulk"
    return "other"


def index_data_folder(root: str | os.PathLike[str]) -> dict[str, str]:
    """File name → collection for every XML file under ``root`` (members of .tar.gz packages
    included), by the folders it lies in. Names found in two collections are left out (ambiguous)."""
    root = Path(root)
    seen: dict[str, set[str]] = {}
    for dirpath, _, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for f in files:
            where = _by_folders(f"{rel}/{f}") or "other"
            if f.endswith((".tar.gz", ".tgz")):
                try:
                    with tarfile.open(Path(dirpath) / f) as tar:
                        names = [m.name.rsplit("/", 1)[-1] for m in tar.getmembers() if m.isfile()]
                except (tarfile.TarError, OSError):
                    continue
                for n in names:
                    seen.setdefault(n, set()).add(where)
            elif f.endswith((".xml", ".nxml")):
                seen.setdefault(f, set()).add(where)
    return {name: next(iter(c)) for name, c in seen.items() if len(c) == 1}
