"""Input discovery, filelists and streaming package reads (pure Python, on the bundled sample)."""

from __future__ import annotations

import gzip
import shutil
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.sources import (
    Document,
    FilelistEntry,
    InputNotFound,
    Problem,
    apply_package_metadata,
    discover_inputs,
    parse_filelist,
    read_file,
    read_filelist,
    read_package,
    read_unit,
    write_package,
)

STEM = "{g}_xml.PMC000xxxxxx.baseline.2026-06-01"
MAX = 64 * 1024 * 1024


def package_path(bulk_dir: Path, group: str) -> Path:
    return bulk_dir / group / "xml" / f"{STEM.format(g=group)}.tar.gz"


def members_of(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path, "r:gz") as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf if m.isfile()]


# --------------------------------------------------------------------------------- discovery

def test_discovers_the_bundled_sample(bulk_dir: Path, sample_dir: Path):
    found = discover_inputs([str(bulk_dir), str(sample_dir / "jats-other")])
    packages = [u for u in found.units if u.kind == "package"]
    assert [u.group for u in packages] == ["oa_comm", "oa_noncomm", "oa_other"]
    assert packages[0].name == f"pmc-oa-bulk/oa_comm/xml/{STEM.format(g='oa_comm')}.tar.gz"
    assert all(u.filelist_url and u.filelist_url.endswith(".filelist.csv") for u in packages)
    files = [u for u in found.units if u.kind == "files"]
    assert len(files) == 1 and len(files[0].files) == 28 == found.n_files
    names = [name for _, name, _ in files[0].files]
    assert names == sorted(names)
    assert "jats-other/europepmc-bundles/PMC6358576_PMC6358589.xml" in names
    assert found.ignored == []  # the filelists are paired, nothing else lies there


def test_discovery_is_deterministic_and_reads_each_input_once(bulk_dir: Path):
    a = discover_inputs([str(bulk_dir / "oa_other"), str(bulk_dir)])
    b = discover_inputs([str(bulk_dir)])
    assert [u.url for u in a.units] == [u.url for u in b.units]  # nested input read once
    assert [u.key for u in a.units] != []
    assert len({u.key for u in b.units}) == 3


def test_single_package_url_and_glob_find_the_filelist(bulk_dir: Path):
    pkg = package_path(bulk_dir, "oa_noncomm")
    (unit,) = discover_inputs([f"file://{pkg}"]).units
    assert unit.kind == "package" and unit.group == "oa_noncomm" and unit.filelist_url.endswith(".filelist.csv")
    assert unit.name == pkg.name
    globbed = discover_inputs([str(bulk_dir / "*" / "xml" / "*.tar.gz")]).units
    assert len(globbed) == 3


def test_chunks_loose_files(sample_dir: Path):
    found = discover_inputs([str(sample_dir / "jats-other")], files_per_chunk=10)
    assert [len(u.files) for u in found.units] == [10, 10, 8]


def test_missing_input_is_a_clear_error(tmp_path: Path):
    with pytest.raises(InputNotFound, match="does not exist"):
        discover_inputs([str(tmp_path / "nope")])


def test_unknown_files_are_listed_as_ignored(tmp_path: Path, sample_dir: Path):
    shutil.copy(sample_dir / "jats-other" / "elife" / "elife00005.xml", tmp_path / "a.xml")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    found = discover_inputs([str(tmp_path)])
    assert found.n_files == 1 and found.ignored == [f"{tmp_path.name}/notes.txt"]


# --------------------------------------------------------------------------------- filelists

def test_filelist_columns_quotes_and_dates(bulk_dir: Path):
    entries = read_filelist(str(package_path(bulk_dir, "oa_comm")).replace(".tar.gz", ".filelist.csv"))
    assert len(entries) == 128
    e = entries["PMC004xxxxxx/PMC4179036.xml"]  # citation quoted, with a comma
    assert e.citation == "Sensors (Basel, Switzerland)"
    assert (e.accession, e.pmid, e.license, e.retracted) == ("PMC4179036", "25196165", "CC BY", False)
    assert e.last_updated == datetime(2026, 5, 1, tzinfo=timezone.utc)
    assert entries["PMC008xxxxxx/PMC8118396.xml"].pmid is None  # empty PMID column


def test_filelist_txt_layout_and_bad_header():
    text = ("Article File\tArticle Citation\tAccessionID\tLastUpdated (YYYY-MM-DD HH:MM:SS)\tPMID\tLicense\tRetracted\n"
            "./PMC001xxxxxx/PMC1.xml\tJ\tPMC1\t2024-01-02 03:04:05\t9\tCC BY-NC\tyes\n")
    (e,) = parse_filelist(text, delimiter="\t").values()
    assert e.member == "PMC001xxxxxx/PMC1.xml" and e.retracted and e.license == "CC BY-NC"
    assert e.last_updated == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="not a PMC filelist"):
        parse_filelist("a,b\n1,2\n")


# ---------------------------------------------------------------------------------- packages

def test_streams_every_member_with_its_filelist_row(bulk_dir: Path):
    (unit,) = discover_inputs([str(package_path(bulk_dir, "oa_noncomm"))]).units
    docs = list(read_unit(unit, MAX))
    assert len(docs) == 29 and all(isinstance(d, Document) for d in docs)
    assert [d.data for d in docs] == [data for _, data in members_of(package_path(bulk_dir, "oa_noncomm"))]
    first = docs[0]
    assert first.source.endswith("::PMC003xxxxxx/PMC3574550.xml")
    assert first.meta.accession == "PMC3574550" and first.meta.license == "CC BY-NC" and first.group == "oa_noncomm"


def test_truncated_package_keeps_what_was_read_and_quarantines_the_rest(bulk_dir: Path, tmp_path: Path):
    src = package_path(bulk_dir, "oa_noncomm")
    dst = tmp_path / src.name
    raw = src.read_bytes()
    dst.write_bytes(raw[: len(raw) // 2])
    shutil.copy(str(src).replace(".tar.gz", ".filelist.csv"), str(dst).replace(".tar.gz", ".filelist.csv"))
    (unit,) = discover_inputs([str(dst)]).units
    out = list(read_package(unit, MAX))
    docs = [o for o in out if isinstance(o, Document)]
    lost = [o for o in out if isinstance(o, Problem)]
    originals = dict(members_of(src))
    assert 5 < len(docs) < 29
    assert all(d.data == originals[d.source.split("::")[1]] for d in docs)  # complete, unaltered
    assert len(docs) + len(lost) == 29  # every filelist row accounted for exactly once
    assert {p.reason for p in lost} == {"truncated_archive"}
    assert {d.source for d in docs}.isdisjoint(p.source for p in lost)


def test_truncated_package_without_filelist_reports_the_rest_once(bulk_dir: Path, tmp_path: Path):
    src = package_path(bulk_dir, "oa_other")
    dst = tmp_path / "cut.tar.gz"
    dst.write_bytes(src.read_bytes()[:100_000])
    out = list(read_unit(discover_inputs([str(dst)]).units[0], MAX))
    problems = [o for o in out if isinstance(o, Problem)]
    assert len(problems) == 1 and problems[0].reason == "truncated_archive"
    assert problems[0].source.startswith("cut.tar.gz")
    assert len(out) - 1 >= 1  # members before the break survive


def test_missing_member_and_oversized_member(bulk_dir: Path, tmp_path: Path):
    members = members_of(package_path(bulk_dir, "oa_other"))[:3]
    rows = [FilelistEntry(n, n.split("/")[1][:-4], None, None, "NO-CC CODE", False) for n, _ in members]
    rows.append(FilelistEntry("PMC009xxxxxx/PMC9999999.xml", "PMC9999999", None, None, "CC BY", False))
    pkg = tmp_path / "oa_other_xml.incr.2026-06-02.tar.gz"
    write_package(str(pkg), members + [("PMC000xxxxxx/readme.pdf", b"%PDF")], rows)
    (unit,) = discover_inputs([str(tmp_path)]).units
    limit = sorted(len(d) for _, d in members)[1]  # only the largest member is over the limit
    out = list(read_unit(unit, limit))
    reasons = sorted((o.reason, o.source.split("::")[1]) for o in out if isinstance(o, Problem))
    too_big = sorted(n for n, d in members if len(d) > limit)
    assert reasons == sorted([("member_too_large", n) for n in too_big]
                             + [("missing_member", "PMC009xxxxxx/PMC9999999.xml"),
                                ("not_xml_member", "PMC000xxxxxx/readme.pdf")])
    assert len(too_big) == 1 and sum(isinstance(o, Document) for o in out) == 2


def test_loose_files_gz_bad_gzip_and_size_limit(sample_dir: Path, tmp_path: Path):
    original = (sample_dir / "jats-other" / "elife" / "elife00005.xml").read_bytes()
    (tmp_path / "a.xml.gz").write_bytes(gzip.compress(original))
    (tmp_path / "b.xml.gz").write_bytes(b"not gzip at all")
    doc = read_file(str(tmp_path / "a.xml.gz"), "a.xml.gz", MAX)
    assert isinstance(doc, Document) and doc.data == original
    assert read_file(str(tmp_path / "b.xml.gz"), "b.xml.gz", MAX).reason == "bad_gzip"
    big = read_file(str(tmp_path / "a.xml.gz"), "a.xml.gz", 1000)  # a gzip bomb stops at the limit
    assert isinstance(big, Problem) and big.reason == "member_too_large"


# ---------------------------------------------------------------------------- metadata rules

def test_filelist_wins_over_the_xml():
    article = {"article_id": "doi:10.1/x", "license": "CC BY", "commercial": True, "pmid": "1",
               "retracted": False, "last_updated": None, "source": "p::m"}
    paragraphs = [{"article_id": "doi:10.1/x", "paragraph_id": "doi:10.1/x:00000", "ordinal": 0}]
    meta = FilelistEntry("m", "PMC42", datetime(2026, 1, 1, tzinfo=timezone.utc), "77", "CC BY-NC-ND", True)
    apply_package_metadata(article, paragraphs, meta, "oa_noncomm", single=True)
    assert (article["license"], article["commercial"], article["pmid"], article["retracted"]) == \
        ("CC BY-NC-ND", False, "77", True)
    assert article["last_updated"].year == 2026
    assert article["article_id"] == "PMC42" and paragraphs[0]["paragraph_id"] == "PMC42:00000"
    # no filelist: the package group decides commercial use
    other = {"article_id": "PMC1", "license": "CC BY", "commercial": True}
    apply_package_metadata(other, [], None, "oa_other", single=True)
    assert other["commercial"] is False and other["license"] == "CC BY"


def test_fsspec_urls_are_discovered_and_read(bulk_dir: Path):
    """Any fsspec filesystem works (here the in-process memory:// one; s3://, gs://, hdfs:// alike)."""
    import fsspec

    mem = fsspec.filesystem("memory")
    base = bulk_dir / "oa_other" / "xml" / STEM.format(g="oa_other")
    for suffix in (".tar.gz", ".filelist.csv"):
        mem.pipe(f"/bucket/pmc/oa_other/{base.name}{suffix}", Path(f"{base}{suffix}").read_bytes())
    mem.pipe("/bucket/pmc/loose/x.nxml", (bulk_dir.parent / "jats-other" / "elife" / "elife00005.xml").read_bytes())
    try:
        found = discover_inputs(["memory://bucket/pmc"])
        pkg, files = found.units
        assert pkg.url == f"memory:///bucket/pmc/oa_other/{base.name}.tar.gz"
        assert pkg.filelist_url.endswith(".filelist.csv") and pkg.name == f"pmc/oa_other/{base.name}.tar.gz"
        docs = list(read_unit(pkg, MAX))
        assert len(docs) == 15 and all(d.meta.license == "NO-CC CODE" for d in docs)
        (doc,) = list(read_unit(files, MAX))
        assert doc.source == "pmc/loose/x.nxml" and doc.data.startswith(b"<?xml")
    finally:
        mem.rm("/bucket", recursive=True)


def test_ingest_input_fingerprint_sees_a_file_edited_in_place_at_the_same_size(tmp_path):
    """A loose file rewritten with other bytes of the same length (new mtime) changes ingest's
    input fingerprint, so the stage runner redoes ingest; nothing changed, or only the chunking,
    leaves it as it was."""
    import os

    from pipeline.config import PipelineConfig
    from pipeline.stage_files import inputs_fingerprint

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"a{i}.xml").write_text(f"<article>{i}</article>")
    cfg = PipelineConfig(inputs=[str(folder)])
    before = inputs_fingerprint(cfg)
    assert inputs_fingerprint(cfg) == before
    assert inputs_fingerprint(cfg.model_copy(update={"ingest": cfg.ingest.model_copy(
        update={"files_per_chunk": 1})})) == before
    edited = folder / "a1.xml"
    stat = edited.stat()
    edited.write_text("<article>9</article>")  # same size, other bytes
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert edited.stat().st_size == stat.st_size
    assert inputs_fingerprint(cfg) != before
