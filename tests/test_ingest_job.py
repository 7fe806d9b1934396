"""The ingest Spark job on the real bundled sample: counts, filelist authority, report, determinism,
reruns, versions (superseded), per-input resume and the CLI."""

from __future__ import annotations

import json
import shutil
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.ingest import stage_unit
from pipeline.errors import UserError
from stagetools import config_for, figures
from stagetools import run as run_stage
from pipeline.config import PipelineConfig
from pipeline.rundir import RunDir
from pipeline.sources import FilelistEntry, discover_inputs, read_unit, write_package
from schemas.ingest import ARTICLES, PARAGRAPHS, QUARANTINE, SUPERSEDED

# Facts of the bundled sample (tests/data), counted from the files themselves.
BULK_ARTICLES = 172  # 128 oa_comm + 29 oa_noncomm + 15 oa_other members, one article each
OTHER_FILES = 28  # jats-other/*.xml; the Europe PMC bundle holds 10 articles
OTHER_ARTICLES = 37
STEM = "{g}_xml.PMC000xxxxxx.baseline.2026-06-01"


def table(run: RunDir, name: str) -> pa.Table:
    return pq.read_table(run.table(name))


def rows(run: RunDir, name: str, key: list[str]) -> list[dict]:
    return table(run, name).sort_by([(k, "ascending") for k in key]).to_pylist()


def report(run: RunDir) -> dict:
    saved = json.loads(run.report("ingest").read_text())
    return {**saved["figures"], "fingerprint": saved["fingerprint"]}


# ----------------------------------------------------------------------------- bundled sample

def test_counts_and_reconciliation(ingested_run: RunDir):
    rep = report(ingested_run)
    assert rep["documents"] == {"seen": BULK_ARTICLES + OTHER_FILES, "parsed": BULK_ARTICLES + OTHER_FILES,
                                "seen_in_packages": BULK_ARTICLES, "seen_loose": OTHER_FILES,
                                "quarantined": 0, "invariant": "parsed + quarantined == seen", "reconciled": True}
    assert rep["inputs"]["packages"] == 3 and rep["inputs"]["loose_files"] == OTHER_FILES
    arts = table(ingested_run, "articles")
    assert arts.num_rows == BULK_ARTICLES + OTHER_ARTICLES == rep["articles"]["kept"] == rep["articles"]["parsed"]
    ids = arts.column("article_id").to_pylist()
    assert len(set(ids)) == len(ids)
    sources = arts.column("source").to_pylist()
    assert sum(s.startswith("pmc-oa-bulk/") and "::PMC" in s for s in sources) == BULK_ARTICLES
    assert table(ingested_run, "quarantine").num_rows == 0 and table(ingested_run, "superseded").num_rows == 0
    assert rep["quarantined_by_reason"] == {} and rep["articles"]["superseded"] == 0


def test_paragraphs_are_exactly_what_the_parser_yields(ingested_run: RunDir, bulk_dir: Path, sample_dir: Path):
    from pipeline.jats import parse_document

    expected = 0
    for unit in discover_inputs([str(bulk_dir), str(sample_dir / "jats-other")]).units:
        for doc in read_unit(unit, 1 << 26):
            expected += sum(len(a.paragraphs) for a in parse_document(doc.data, doc.source, detect_language=False))
    paras = table(ingested_run, "paragraphs")
    arts = table(ingested_run, "articles")
    assert paras.num_rows == expected == report(ingested_run)["paragraphs"]
    assert sum(arts.column("n_paragraphs").to_pylist()) == expected
    pids = paras.column("paragraph_id").to_pylist()
    assert len(set(pids)) == len(pids)
    assert set(paras.column("article_id").to_pylist()) <= set(arts.column("article_id").to_pylist())


def test_known_article_row(ingested_run: RunDir):
    (row,) = [r for r in table(ingested_run, "articles").to_pylist() if r["article_id"] == "PMC3574550"]
    assert row["title"].startswith("Socio-demographic inequalities in stage of cancer diagnosis")
    assert (row["pmid"], row["doi"], row["journal"], row["year"]) == \
        ("23149571", "10.1093/annonc/mds526", "Annals of Oncology", 2012)
    assert (row["license"], row["commercial"], row["retracted"]) == ("CC BY-NC", False, False)
    assert row["source"] == f"pmc-oa-bulk/oa_noncomm/xml/{STEM.format(g='oa_noncomm')}.tar.gz::PMC003xxxxxx/PMC3574550.xml"
    assert row["last_updated"] == datetime(2026, 5, 1, tzinfo=timezone.utc)
    paras = [p for p in rows(ingested_run, "paragraphs", ["paragraph_id"]) if p["article_id"] == "PMC3574550"]
    assert len(paras) == row["n_paragraphs"] and paras[0]["paragraph_id"] == "PMC3574550:00000"
    assert [p["ordinal"] for p in paras] == list(range(len(paras)))
    assert paras[0]["zone"] == "abstract" and paras[0]["section_path"] == ["Background"]


def test_filelist_is_authoritative(ingested_run: RunDir):
    arts = {r["article_id"]: r for r in table(ingested_run, "articles").to_pylist()}
    # XML says CC BY 2.0 (licence URL kept as found); the filelist says CC0, and wins.
    assert arts["PMC4041896"]["license"] == "CC0" and "licenses/by/2.0" in arts["PMC4041896"]["license_url"]
    # XML carries only a public-domain *mark* (→ none); the filelist's CC BY makes it commercial.
    assert (arts["PMC2599765"]["license"], arts["PMC2599765"]["commercial"]) == ("CC BY", True)
    # filelist PMID column: used when present; an empty one keeps the XML's (none here)
    assert arts["PMC4179036"]["pmid"] == "25196165" and arts["PMC4059924"]["pmid"] is None
    # loose files have no filelist: no LastUpdated
    assert arts["doi:10.7554/elife.00005"]["last_updated"] is None


def test_commercial_flag_per_package_group(ingested_run: RunDir):
    by_group: dict[str, set] = {}
    for r in table(ingested_run, "articles").to_pylist():
        if r["source"].startswith("pmc-oa-bulk/"):
            by_group.setdefault(r["source"].split("/")[1], set()).add((r["commercial"], r["license"]))
    assert by_group["oa_comm"] == {(True, "CC BY"), (True, "CC0")}
    assert by_group["oa_noncomm"] == {(False, "CC BY-NC"), (False, "CC BY-NC-ND")}
    assert by_group["oa_other"] == {(False, "none")}


def test_report_content(ingested_run: RunDir):
    rep = report(ingested_run)
    arts = table(ingested_run, "articles").to_pylist()
    # The bulk side is fixed by the filelists: 128 commercial (111 CC BY + 17 CC0), 29 NC, 15 none.
    bulk = [a for a in arts if a["source"].startswith("pmc-oa-bulk/")]
    groups = {"commercial": 0, "noncommercial": 0, "other": 0}
    for a in bulk:
        groups["commercial" if a["commercial"] else "noncommercial" if a["license"] != "none" else "other"] += 1
    assert groups == {"commercial": 128, "noncommercial": 29, "other": 15}
    assert sum(a["license"] == "CC0" for a in bulk) == 17 and sum(a["license"] == "CC BY" for a in bulk) == 111
    # The report's figures are those of the table as written (the loose files' licences come from their XML).
    for a in arts:
        if not a["source"].startswith("pmc-oa-bulk/"):
            groups["commercial" if a["commercial"] else "noncommercial" if a["license"] != "none" else "other"] += 1
    assert rep["licence_groups"] == groups
    licences: dict[str, int] = {}
    for a in arts:
        licences[a["license"]] = licences.get(a["license"], 0) + 1
    assert rep["licences"] == licences and sum(licences.values()) == BULK_ARTICLES + OTHER_ARTICLES
    assert rep["inputs"]["units_parsed"] == 4 and rep["inputs"]["units_reused"] == 0
    assert set(rep["definitions"]) >= {"document", "documents.seen", "articles.kept"}
    assert rep["languages"]["pt"] >= 1 and rep["languages"]["en"] > 150
    # stages are removed once the tables are published; markers carry the fingerprint
    assert not ingested_run.table(".ingest-stage").exists()
    assert ingested_run.marker("articles")["fingerprint"] == rep["fingerprint"]


def test_tables_follow_the_declared_schemas(ingested_run: RunDir):
    for name, schema in (("articles", ARTICLES), ("paragraphs", PARAGRAPHS), ("quarantine", QUARANTINE),
                         ("superseded", SUPERSEDED)):
        written = pq.read_schema(next(ingested_run.table(name).glob("*.parquet")))
        assert written.names == schema.names, name
        for field in schema:
            got = written.field(field.name).type
            if pa.types.is_list(field.type):
                assert pa.types.is_list(got) and got.value_type == field.type.value_type
            else:
                assert got == field.type, (name, field.name, got)
    assert all(p.name.endswith(".zstd.parquet") for p in ingested_run.table("articles").glob("part-*"))


def test_rerun_skips_and_other_inputs_are_refused(spark, ingested_run: RunDir, run_copy: RunDir, bulk_dir: Path,
                                                  sample_dir: Path):
    before = ingested_run.table("articles").stat().st_mtime_ns
    cfg = config_for(ingested_run, inputs=[str(bulk_dir), str(sample_dir / "jats-other")])
    rerun = run_stage("ingest", spark, cfg)
    assert rerun["skipped"] and {**rerun["figures"], "fingerprint": rerun["fingerprint"]} == report(ingested_run)
    assert ingested_run.table("articles").stat().st_mtime_ns == before  # nothing rewritten
    with pytest.raises(UserError, match="other inputs") as err:
        run_stage("ingest", spark, config_for(run_copy, inputs=[str(bulk_dir / "oa_other")]))
    assert "--overwrite" in err.value.hint


# ------------------------------------------------------------ versions, resume and overwrite

@pytest.fixture(scope="module")
def versions_run(spark, bulk_dir: Path, sample_dir: Path, tmp_path_factory):
    """oa_other baseline + an incremental package re-issuing PMC320490 later (now CC BY) + one
    loose article present twice. One unit is staged before the run, as a killed run would leave."""
    root = tmp_path_factory.mktemp("versions")
    baseline = bulk_dir / "oa_other" / "xml" / f"{STEM.format(g='oa_other')}.tar.gz"
    with tarfile.open(baseline, "r:gz") as tf:
        member = next(m for m in tf if m.name.endswith("PMC320490.xml"))
        data = tf.extractfile(member).read()
    incr = root / "incr" / "oa_comm_xml.incr.2026-06-15.tar.gz"
    incr.parent.mkdir()
    write_package(str(incr), [(member.name, data)],
                  [FilelistEntry(member.name, "PMC320490", datetime(2026, 6, 15, 8, 30, tzinfo=timezone.utc),
                                 "14711381", "CC BY", False)])
    copies = root / "copies"
    copies.mkdir()
    for name in ("a.xml", "b.xml"):
        shutil.copy(sample_dir / "jats-other" / "elife" / "elife00005.xml", copies / name)
    inputs = [str(baseline), str(incr.parent), str(copies)]
    run = RunDir(root / "run")
    cfg = PipelineConfig(inputs=inputs)
    units = discover_inputs(inputs).units
    stage_unit(spark, run, units[0], cfg)  # as if a killed run had finished this input
    rep = figures("ingest", spark, config_for(run, cfg))
    return run, rep, inputs


def test_latest_copy_wins_and_the_others_are_superseded(versions_run):
    run, rep, _ = versions_run
    assert rep["documents"]["seen"] == 15 + 1 + 2 == rep["documents"]["parsed"]
    assert rep["articles"] == {"parsed": 18, "kept": 16, "superseded": 2, "failed_in_bundles": 0, "retracted": 0}
    kept = {r["article_id"]: r for r in table(run, "articles").to_pylist()}
    pmc = kept["PMC320490"]
    assert pmc["source"] == "incr/oa_comm_xml.incr.2026-06-15.tar.gz::PMC000xxxxxx/PMC320490.xml"
    assert (pmc["license"], pmc["commercial"]) == ("CC BY", True)
    assert pmc["last_updated"] == datetime(2026, 6, 15, 8, 30, tzinfo=timezone.utc)
    assert rows(run, "superseded", ["article_id"]) == [
        {"article_id": "PMC320490",
         "source": f"{STEM.format(g='oa_other')}.tar.gz::PMC000xxxxxx/PMC320490.xml",
         "last_updated": datetime(2026, 5, 1, tzinfo=timezone.utc),
         "kept_source": pmc["source"]},
        # tie (no LastUpdated for loose files): the greatest source name is kept
        {"article_id": "doi:10.7554/elife.00005", "source": "copies/a.xml", "last_updated": None,
         "kept_source": "copies/b.xml"},
    ]
    assert kept["doi:10.7554/elife.00005"]["source"] == "copies/b.xml"
    paras = table(run, "paragraphs")
    pids = paras.column("paragraph_id").to_pylist()
    assert len(pids) == len(set(pids)) == sum(r["n_paragraphs"] for r in kept.values())


def test_killed_run_resumes_from_finished_inputs(versions_run):
    _, rep, _ = versions_run
    assert rep["inputs"]["units"] == 3
    assert (rep["inputs"]["units_reused"], rep["inputs"]["units_parsed"]) == (1, 2)


def test_overwrite_replaces_a_finished_ingest(spark, versions_run, sample_dir: Path, tmp_path: Path):
    src, _, _ = versions_run
    run = RunDir(tmp_path / "run")
    shutil.copytree(src.root, run.root)
    other = [str(sample_dir / "jats-other" / "pmc-oai" / "PMC10000000.xml")]
    with pytest.raises(UserError, match="other inputs"):
        run_stage("ingest", spark, config_for(run, inputs=other))
    rep = figures("ingest", spark, config_for(run, inputs=other), overwrite=True)
    assert rep["articles"]["kept"] == 1 and table(run, "articles").column("article_id").to_pylist() == ["PMC10000000"]
    assert table(run, "superseded").num_rows == 0


# -------------------------------------------------------------------------- CLI, determinism

def test_cli_run_is_deterministic_across_partitionings(ingested_run: RunDir, bulk_dir: Path, sample_dir: Path,
                                                       tmp_path: Path):
    """The CLI, with other partitioning and one input at a time, reproduces exactly the rows the
    shared run holds for the same inputs."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    out = tmp_path / "run"
    inputs = [str(bulk_dir / "oa_noncomm"), str(sample_dir / "jats-other" / "europepmc-bundles")]
    result = CliRunner().invoke(app, ["ingest", *inputs, "--out", str(out), "--master", "local[2]",
                                      "--set", "ingest.parse_partitions=3", "--set", "ingest.concurrent_inputs=1",
                                      "--set", "spark.shuffle_partitions=4", "--set", "spark.log_level=ERROR"])
    assert result.exit_code == 0, result.output
    assert "documents seen" in result.output and "parsed + quarantined == seen  yes" in result.output
    run = RunDir(out)
    assert report(run)["documents"]["seen"] == 29 + 1
    prefixes = ("oa_noncomm/", "europepmc-bundles/")
    strip = "pmc-oa-bulk/"
    mine = rows(run, "articles", ["article_id"])
    theirs = [dict(r, source=r["source"].removeprefix(strip).removeprefix("jats-other/"))
              for r in rows(ingested_run, "articles", ["article_id"])
              if r["source"].removeprefix(strip).removeprefix("jats-other/").startswith(prefixes)]
    assert len(mine) == 29 + 10 and mine == theirs
    ids = {r["article_id"] for r in mine}
    assert rows(run, "paragraphs", ["paragraph_id"]) == \
        [p for p in rows(ingested_run, "paragraphs", ["paragraph_id"]) if p["article_id"] in ids]
    again = CliRunner().invoke(app, ["ingest", *inputs[:1], "--out", str(out), "--set", "spark.shuffle_partitions=4",
                                     "--set", "spark.log_level=ERROR"])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_cli_help():
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["ingest", "--help"])
    assert result.exit_code == 0
    for word in ("--out", "--overwrite", "--master", "--config", "--set", "filelist"):
        assert word in result.output
