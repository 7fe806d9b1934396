"""Write a package in PMC's bulk layout (``.tar.gz`` + sibling ``.filelist.csv``): for tests,
benchmarks and re-packaging."""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import time
from collections.abc import Iterable

import fsspec

from pipeline.sources.discovery import package_stem
from pipeline.sources.filelist import FilelistEntry, format_filelist


def write_package(path: str, members: Iterable[tuple[str, bytes]], filelist: Iterable[FilelistEntry] | None = None,
                  compresslevel: int = 6) -> None:
    """Members are streamed; nothing is held beyond one member. The filelist, when given, is
    written beside the package as ``<package stem>.filelist.csv``."""
    with fsspec.open(path, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tf.addfile(info, io.BytesIO(data))
    if filelist is not None:
        with fsspec.open(posixpath.join(posixpath.dirname(path), package_stem(path) + ".filelist.csv"), "w",
                         encoding="utf-8") as fh:
            fh.write(format_filelist(filelist))
