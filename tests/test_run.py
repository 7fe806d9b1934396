"""`pmc-enrich run`: config path resolution (fast), then the whole pipeline on the bundled sample
(reusing the session's ingested run, so ingest is skipped as complete), a second run that skips
everything, and a resume after a simulated kill."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from jobs.run import SAMPLE_CONFIG, STAGE_NAMES, RunError, load_run_config, run_pipeline
from pipeline.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
RECIPES = ["BE-Base", "BE-French", "BE-All"]  # three of the six keep the test short


def test_sample_config_paths_resolve_against_its_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # any CWD: the bundled config still finds the sample
    cfg = load_run_config(None)
    assert cfg.inputs == [str(REPO / "tests/data/pmc-oa-bulk"), str(REPO / "tests/data/jats-other")]
    assert cfg.out == str(REPO / "runs/sample")
    assert cfg.label.backend == "import"
    assert cfg.label.path == str(REPO / "tests/data/annotation/reference-labels.jsonl")
    assert Path(cfg.label.path).is_file() and all(Path(p).is_dir() for p in cfg.inputs)
    assert cfg.emit.recipes == ["BE-Base", "BE-Educational", "BE-Clinical", "BE-ClinicalCase", "BE-French", "BE-All"]
    cli = load_run_config(SAMPLE_CONFIG, {"label.backend": "openai", "label.base_url": "http://h:8000/v1",
                                          "out": str(tmp_path / "x")})
    assert (cli.label.backend, cli.label.base_url, cli.out) == ("openai", "http://h:8000/v1", str(tmp_path / "x"))


def test_bad_configs_are_clear(tmp_path):
    with pytest.raises(RunError, match="not found"):
        load_run_config(tmp_path / "nope.yaml")
    (tmp_path / "c.yaml").write_text("inputs: [a]\n")
    with pytest.raises(RunError, match="`out`"):
        load_run_config(tmp_path / "c.yaml")
    with pytest.raises(RunError, match="unknown stage"):
        run_pipeline(load_run_config(SAMPLE_CONFIG, {"out": str(tmp_path / "r")}), stages=["ingest", "deploy"])


def _config(tmp_path: Path, out: Path) -> Path:
    data = yaml.safe_load(SAMPLE_CONFIG.read_text())
    data["inputs"] = [str(REPO / "tests/data/pmc-oa-bulk"), str(REPO / "tests/data/jats-other")]
    data["label"]["path"] = str(REPO / "tests/data/annotation/reference-labels.jsonl")
    data["out"] = str(out)
    data["emit"]["recipes"] = RECIPES
    data["spark"] = {"master": "local[2]", "shuffle_partitions": 4, "show_progress": False, "log_level": "ERROR"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def full_run(spark, ingested_run, tmp_path_factory):
    for stage in ("dedup", "sample", "train", "annotate"):
        pytest.importorskip(f"jobs.{stage}")
    base = tmp_path_factory.mktemp("fullrun")
    out = base / "run"
    shutil.copytree(ingested_run.root, out)  # ingest done once per test session
    cfg = load_run_config(_config(base, out))
    summary = run_pipeline(cfg, spark_factory=lambda: spark, progress=False)
    return RunDir(out), cfg, summary


@pytest.mark.slow
def test_full_run_produces_every_output(full_run):
    run, cfg, summary = full_run
    assert list(summary["stages"]) == STAGE_NAMES
    assert summary["stages"]["ingest"]["status"] == "skipped"  # complete before we started
    assert all(summary["stages"][s]["status"] == "done" for s in STAGE_NAMES[1:])
    for table in ("articles", "paragraphs", "dedup", "sample", "labels", "model", "annotations"):
        assert run.is_complete(table), table
    n_paragraphs = pq.read_table(run.table("paragraphs"), columns=["paragraph_id"]).num_rows
    assert pq.read_table(run.table("annotations"), columns=["paragraph_id"]).num_rows == n_paragraphs
    dups = pq.read_table(run.table("dedup"), columns=["is_duplicate"])["is_duplicate"].to_pylist()
    for name in RECIPES:
        m = json.loads((run.table(f"variants/{name}") / "manifest.json").read_text())
        assert m["labellers"] and m["classifier_versions"], name
        assert m["totals"]["paragraphs"] <= n_paragraphs - sum(dups)
    base = json.loads((run.table("variants/BE-Base") / "manifest.json").read_text())
    assert base["totals"]["rows"] == base["totals"]["unique_rows"] == base["totals"]["articles"] > 0
    assert base["splits"]["commercial"]["rows"] > 0 and base["splits"]["noncommercial"]["rows"] > 0
    html = (run.reports / "report.html").read_text()
    assert "BE-All" in html and html.count("data:image/png;base64,") == 4
    assert (run.root / "catalog.duckdb").exists()
    assert json.loads(run.report("run").read_text())["stages"]["emit"]["status"] == "done"


@pytest.mark.slow
def test_notebook_on_the_sample_run(full_run):
    from test_notebook import execute_notebook, outputs

    text, images = outputs(execute_notebook(full_run[0].root))
    assert images == 3 and "BE-All" in text


@pytest.mark.slow
def test_second_run_skips_everything_and_a_killed_run_resumes(full_run, spark):
    run, cfg, _ = full_run
    started = time.time()
    again = run_pipeline(cfg, spark_factory=lambda: spark, progress=False)
    assert {s: v["status"] for s, v in again["stages"].items()} == {s: "skipped" for s in STAGE_NAMES}
    assert time.time() - started < 30
    # Killed mid-emit: one variant lost its marker, a temp folder is left behind, no report yet.
    (run.table("variants/BE-French") / "_COMPLETE").unlink()
    (run.root / ".tmp-variants_BE-French-0badc0de" / "commercial").mkdir(parents=True)
    (run.reports / "report.html").unlink()
    resumed = run_pipeline(cfg, spark_factory=lambda: spark, progress=False)
    status = {s: v["status"] for s, v in resumed["stages"].items()}
    assert status == {**{s: "skipped" for s in STAGE_NAMES[:6]}, "emit": "done", "catalog": "done", "report": "done"}
    emitted = json.loads(run.report("emit").read_text())["variants"]
    assert {k: v["skipped"] for k, v in emitted.items()} == {"BE-Base": True, "BE-French": False, "BE-All": True}
    assert not list(run.root.glob(".tmp-*")) and run.is_complete("variants/BE-French")
    assert (run.reports / "report.html").exists()


@pytest.mark.slow
def test_changed_settings_redo_that_stage_and_later_ones_not_earlier(full_run, spark, tmp_path):
    from jobs.run import SETTINGS_FILE
    from pipeline.config import apply_overrides

    run0, cfg0, _ = full_run
    out = tmp_path / "run"
    shutil.copytree(run0.root, out)
    cfg = apply_overrides(cfg0, {"out": str(out)})
    recorded = json.loads((out / SETTINGS_FILE).read_text())
    assert set(recorded) == {"ingest", "dedup", "sample", "label", "train", "annotate"}  # emit checks itself

    def statuses(overrides, stages):
        summary = run_pipeline(apply_overrides(cfg, overrides), stages=stages, spark_factory=lambda: spark,
                               progress=False)
        return {s: v["status"] for s, v in summary["stages"].items()}

    early = ["ingest", "dedup", "sample"]
    # An execution knob (batch size) is not a settings change: everything is skipped.
    assert statuses({"dedup.batch_size": 64}, early) == {s: "skipped" for s in early}
    # dedup changed but not selected: sample is consistent with the dedup outputs that exist, so it stays.
    assert statuses({"dedup.threshold": 0.95}, ["sample"]) == {"sample": "skipped"}
    # A real change to dedup redoes dedup and the stages after it, never ingest.
    before = json.loads(RunDir(out).report("dedup").read_text())
    assert statuses({"dedup.threshold": 0.95}, early) == {"ingest": "skipped", "dedup": "done", "sample": "done"}
    after = json.loads(RunDir(out).report("dedup").read_text())
    assert before["params"]["threshold"] == 0.8 and after["params"]["threshold"] == 0.95
    assert after["near_duplicates"] <= before["near_duplicates"]
    # The new settings are now the recorded ones: running them again skips.
    assert statuses({"dedup.threshold": 0.95}, early) == {s: "skipped" for s in early}
    # Ingest is never redone implicitly: a changed ingest setting is a clear error.
    with pytest.raises(RunError, match="ingest is never redone implicitly"):
        statuses({"dedup.threshold": 0.95, "ingest.detect_language": False}, early)
