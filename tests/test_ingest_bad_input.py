"""Bad input at job level: one folder mixing good real articles with every kind of broken input.
Each broken input is quarantined with its reason; everything else is kept; the job never fails.
One ingest run is shared by all assertions (module fixture)."""

from __future__ import annotations

import json
import random
import shutil
import tarfile
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stagetools import config_for, figures
from pipeline.rundir import RunDir
from pipeline.sources import FilelistEntry, write_package

STEM = "{g}_xml.PMC000xxxxxx.baseline.2026-06-01"
GOOD_FILES = {  # real articles, copied unchanged
    "elife00005.xml": "elife/elife00005.xml",
    "PMC10000000.xml": "pmc-oai/PMC10000000.xml",
    "rsp-48-2-0206.xml": "scielo/0034-8910-rsp-48-2-0206.xml",
}
SECRET = "TOP-SECRET-CANARY-4711"  # an XXE payload points at a file holding this


def members_fully_in_prefix(original: Path, cut_bytes: bytes) -> list[str]:
    """Members whose data lies entirely inside the decompressible part of a truncated .tar.gz,
    computed from the intact archive's offsets (independently of pipeline.sources)."""
    readable = len(zlib.decompressobj(wbits=31).decompress(cut_bytes))
    with tarfile.open(original, "r:gz") as tf:
        return [m.name for m in tf.getmembers() if m.isfile() and m.offset_data + m.size <= readable]


@pytest.fixture(scope="module")
def bad_run(spark, bulk_dir: Path, sample_dir: Path, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    inbox = root / "inbox"
    inbox.mkdir()
    for name, rel in GOOD_FILES.items():
        shutil.copy(sample_dir / "jats-other" / rel, inbox / name)
    good = (sample_dir / "jats-other" / "elife" / "elife00240.xml").read_bytes()

    # a truncated bulk package (with its filelist): cut a real one in half
    noncomm = bulk_dir / "oa_noncomm" / "xml" / f"{STEM.format(g='oa_noncomm')}.tar.gz"
    cut = noncomm.read_bytes()[: noncomm.stat().st_size // 2]
    (inbox / noncomm.name).write_bytes(cut)
    shutil.copy(str(noncomm).replace(".tar.gz", ".filelist.csv"), inbox / noncomm.name.replace(".tar.gz", ".filelist.csv"))
    survivors = members_fully_in_prefix(noncomm, cut)

    # a package whose filelist lists a member the archive lacks
    other = bulk_dir / "oa_other" / "xml" / f"{STEM.format(g='oa_other')}.tar.gz"
    with tarfile.open(other, "r:gz") as tf:
        members = [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()[:3]]
    listed = [FilelistEntry(n, n.split("/")[1][:-4], None, None, "NO-CC CODE", False) for n, _ in members]
    listed.append(FilelistEntry("PMC009xxxxxx/PMC9999999.xml", "PMC9999999", None, None, "CC BY", False))
    write_package(str(inbox / "oa_other_xml.incr.2026-06-02.tar.gz"), members, listed)

    (root / "secret.txt").write_text(SECRET)
    bad = {
        "empty.xml": b"",
        "junk.xml": random.Random(7).randbytes(5000),
        "malformed.xml": good[: len(good) // 2],
        "xxe.xml": (b'<?xml version="1.0"?>\n<!DOCTYPE article [<!ENTITY xxe SYSTEM "file://'
                    + str(root / "secret.txt").encode() + b'">]>\n<article><front><article-meta><title-group>'
                    b"<article-title>&xxe;</article-title></title-group></article-meta></front>"
                    b"<body><p>&xxe;</p></body></article>"),
        "laughs.xml": (b'<?xml version="1.0"?>\n<!DOCTYPE article [\n <!ENTITY lol "lol">\n'
                       + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, b"".join(b"&lol%s;" % (b"" if i == 1 else str(i - 1).encode()) for _ in range(10)))
                                  for i in range(1, 10))
                       + b"]>\n<article><body><p>&lol9;</p></body></article>"),
        "rss.xml": b'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title><item><title>x</title></item></channel></rss>',
        "latin1-declared-utf8.xml": '<?xml version="1.0" encoding="UTF-8"?><article><body><p>café naïve</p></body></article>'.encode("latin-1"),
        "broken.xml.gz": b"\x1f\x8b\x08\x00not really gzip",
    }
    for name, data in bad.items():
        (inbox / name).write_bytes(data)
    run = RunDir(root / "run")
    rep = figures("ingest", spark, config_for(run, inputs=[str(inbox)]))
    quarantine = {r["source"]: r for r in pq.read_table(run.table("quarantine")).to_pylist()}
    return run, rep, quarantine, survivors


def q(bad_run, source: str) -> dict:
    return bad_run[2][f"inbox/{source}"]


def test_job_reconciles_and_keeps_every_good_document(bad_run):
    run, rep, quarantine, survivors = bad_run
    docs = rep["documents"]
    assert docs["reconciled"] and docs["parsed"] + docs["quarantined"] == docs["seen"]
    # seen: 3 good files + 8 bad files + 29 rows of the truncated package's filelist + 4 of the other
    assert docs["seen"] == 3 + 8 + 29 + 4
    assert docs["parsed"] == 3 + len(survivors) + 3
    assert len(quarantine) == docs["quarantined"] == 8 + (29 - len(survivors)) + 1
    ids = set(pq.read_table(run.table("articles")).column("article_id").to_pylist())
    assert {"doi:10.7554/elife.00005", "PMC10000000", "doi:10.1590/s0034-8910.2014048004911"} <= ids
    assert {f"PMC{name.split('PMC')[-1][:-4]}" for name in survivors} <= ids
    assert len(ids) == 3 + len(survivors) + 3


def test_truncated_archive(bad_run):
    run, rep, quarantine, survivors = bad_run
    truncated = {s for s, r in quarantine.items() if r["reason"] == "truncated_archive"}
    assert 0 < len(survivors) < 29 and len(truncated) == 29 - len(survivors)
    assert all(s.startswith(f"inbox/{STEM.format(g='oa_noncomm')}.tar.gz::PMC") for s in truncated)
    kept_sources = set(pq.read_table(run.table("articles")).column("source").to_pylist())
    assert truncated.isdisjoint(kept_sources)
    assert rep["quarantined_by_reason"]["truncated_archive"] == len(truncated)


def test_missing_member(bad_run):
    row = q(bad_run, "oa_other_xml.incr.2026-06-02.tar.gz::PMC009xxxxxx/PMC9999999.xml")
    assert row["reason"] == "missing_member" and "absent from the archive" in row["error"]


@pytest.mark.parametrize("name, reason", [
    ("empty.xml", "empty"),
    ("junk.xml", "binary"),
    ("malformed.xml", "malformed_xml"),
    ("xxe.xml", "entity_declaration"),
    ("laughs.xml", "entity_declaration"),
    ("rss.xml", "not_jats"),
    ("latin1-declared-utf8.xml", "encoding"),
    ("broken.xml.gz", "bad_gzip"),
])
def test_each_bad_file_is_quarantined_with_its_reason(bad_run, name, reason):
    row = q(bad_run, name)
    assert row["reason"] == reason, row
    assert row["error"] and len(row["error"]) <= 500


def test_no_entity_was_expanded_and_no_outside_file_read(bad_run):
    run = bad_run[0]
    texts = pq.read_table(run.table("paragraphs")).column("text").to_pylist()
    titles = pq.read_table(run.table("articles")).column("title").to_pylist()
    assert not any(SECRET in (t or "") or "lollollol" in (t or "") for t in texts + titles)
    assert all(SECRET not in r["error"] for r in bad_run[2].values())


def test_report_counts_quarantine_by_reason(bad_run):
    run, rep, quarantine, _ = bad_run
    assert sum(rep["quarantined_by_reason"].values()) == len(quarantine)
    assert rep["quarantined_by_reason"]["entity_declaration"] == 2
    saved = json.loads(run.report("ingest").read_text())["figures"]
    assert saved["quarantined_by_reason"] == rep["quarantined_by_reason"]
