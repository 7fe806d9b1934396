"""Input arguments (local paths, fsspec URLs, globs) → work units, in a deterministic order."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import posixpath
import re
from collections.abc import Iterable

from fsspec.core import url_to_fs

from pipeline.sources.filelist import FILELIST_SUFFIXES
from pipeline.sources.units import FILE_SUFFIXES, PACKAGE_SUFFIXES, Discovery, InputNotFound, InputUnit

log = logging.getLogger(__name__)

_GROUP_RE = re.compile(r"(?<![a-z])(oa_comm|oa_noncomm|oa_other)(?![a-z])")


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


def _candidates(fs, root: str, arg: str) -> tuple[str, list[tuple[str, dict]]]:
    """What one input argument names: ``(base, [(path, info), ...])``, where ``base`` is the folder
    that source names are made relative to. Raises ``InputNotFound`` when it names nothing."""
    if any(ch in root for ch in "*?["):
        matches = sorted(fs.glob(root))
        if not matches:
            raise InputNotFound(f"input {arg!r} matches no file")
        base = posixpath.dirname(root.split("*")[0].split("?")[0].split("[")[0].rstrip("/"))
        found = []
        for m in matches:
            if fs.isdir(m):
                found.extend((p, info) for p, info in sorted(fs.find(m, detail=True).items()))
            else:
                found.append((m, fs.info(m)))
        return base, found
    if fs.isdir(root):
        found = sorted(fs.find(root, detail=True).items())
        if not found:
            log.warning("input %s is an empty folder", arg)
        return posixpath.dirname(root), found
    if fs.exists(root):
        return posixpath.dirname(root), [(root, fs.info(root))]
    raise InputNotFound(f"input {arg!r} does not exist")


class _Found:
    """What the input arguments name, keyed by URL so an input named twice is read once."""

    def __init__(self) -> None:
        self.packages: dict[str, InputUnit] = {}
        self.files: dict[str, tuple[str, str, int, str]] = {}  # url -> (url, name, size, fingerprint)
        self.filelists: set[str] = set()  # filelists seen in folders
        self.ignored: set[str] = set()

    def add(self, protocol: str, base: str, path: str, info: dict) -> None:
        if info.get("type") == "directory" or _lower_name(path).startswith("."):
            return  # folders; editor / OS droppings (.DS_Store, ._foo.xml)
        url = _join(protocol, path)
        name = posixpath.relpath(path, base) if base else path.lstrip("/")
        size = int(info.get("size") or 0)
        if is_package(path):
            if url not in self.packages:
                self.packages[url] = InputUnit(kind="package", url=url, name=name, size=size,
                                               group=package_group(path), fingerprint=_fingerprint(info))
        elif is_document_file(path):
            self.files.setdefault(url, (url, name, size, _fingerprint(info)))
        elif _lower_name(path).endswith(FILELIST_SUFFIXES):
            self.filelists.add(url)
        else:
            self.ignored.add(name)

    def attach_filelists(self, fs) -> None:
        """Filelists sit beside their package; find them even when the package was named alone."""
        for url, unit in list(self.packages.items()):
            if unit.filelist_url is None:
                found = _sibling_filelist(fs, url, self.filelists)
                if found:
                    self.packages[url] = dataclasses.replace(unit, filelist_url=found)

    def unused_filelists(self) -> set[str]:
        used = {u.filelist_url for u in self.packages.values() if u.filelist_url}
        return {posixpath.basename(u) for u in self.filelists if u not in used}


def discover_inputs(paths: Iterable[str], files_per_chunk: int = 5000) -> Discovery:
    """Expand input arguments into work units, in a deterministic order.

    Raises ``InputNotFound`` for an argument that matches nothing (a typo must not look like an
    empty corpus). Inputs named twice (or nested in another input) are read once.
    """
    found = _Found()
    for arg in paths:
        fs, root = url_to_fs(str(arg))
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        root = root.rstrip("/") or root
        base, candidates = _candidates(fs, root, arg)
        for path, info in candidates:
            found.add(protocol, base, path, info)
        found.attach_filelists(fs)

    units = _dedupe_names(sorted(found.packages.values(), key=lambda u: u.url))
    units.extend(_file_chunks(_dedupe_file_names(sorted(found.files.values())), files_per_chunk))
    return Discovery(units=units, ignored=sorted(found.ignored | found.unused_filelists()))


def _file_chunks(files: list[tuple[str, str, int, str]], files_per_chunk: int) -> list[InputUnit]:
    """Loose files, grouped into units of ``files_per_chunk`` (one task each)."""
    step = max(1, files_per_chunk)
    units = []
    for start in range(0, len(files), step):
        chunk = files[start:start + step]
        fp = hashlib.sha1("\n".join(f"{n}|{s}|{f}" for _, n, s, f in chunk).encode()).hexdigest()
        units.append(InputUnit(kind="files", url="", name=f"files[{chunk[0][1]} .. {chunk[-1][1]}]",
                               size=sum(s for _, _, s, _ in chunk),
                               files=tuple((u, n, s) for u, n, s, _ in chunk), fingerprint=fp,
                               file_fingerprints=tuple(f for _, _, _, f in chunk)))
    return units


def _sibling_filelist(fs, package_url: str, listed: set[str]) -> str | None:
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
    return [u if seen[u.name] == 1 else dataclasses.replace(u, name=u.url) for u in units]


def _dedupe_file_names(files: list[tuple[str, str, int, str]]) -> list[tuple[str, str, int, str]]:
    count: dict[str, int] = {}
    for _, name, _, _ in files:
        count[name] = count.get(name, 0) + 1
    out = [(u, n if count[n] == 1 else u, s, f) for u, n, s, f in files]
    return sorted(out, key=lambda t: t[1])
