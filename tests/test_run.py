"""`pmc-enrich run` and the stage contract: config path resolution (fast), then the whole pipeline on the
bundled sample (reusing the session's ingested run, so ingest is skipped), a second run that skips
everything, a resume after a simulated kill, and settings changes that redo exactly what they must."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.config import apply_overrides
from pipeline.errors import UserError
from pipeline.rundir import RunDir
from pipeline.run_stages import SAMPLE_CONFIG, load_run_config, run_pipeline
from pipeline.stages import STAGE_NAMES

REPO = Path(__file__).resolve().parents[1]
RECIPES = ["BE-Base", "BE-French", "BE-All"]  # three of the six keep the test short
RUN_STAGES = STAGE_NAMES  # decontaminate too: with no benchmark files it writes an empty sidecar


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
    with pytest.raises(UserError, match="not found"):
        load_run_config(tmp_path / "nope.yaml")
    (tmp_path / "c.yaml").write_text("inputs: [a]\n")
    with pytest.raises(UserError, match="`out`"):
        load_run_config(tmp_path / "c.yaml")
    with pytest.raises(UserError, match="unknown stage") as err:
        run_pipeline(load_run_config(SAMPLE_CONFIG, {"out": str(tmp_path / "r")}), stages=["ingest", "deploy"])
    assert "dedup" in err.value.hint


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
    base = tmp_path_factory.mktemp("fullrun")
    out = base / "run"
    shutil.copytree(ingested_run.root, out)  # ingest done once per test session
    cfg = load_run_config(_config(base, out))
    summary = run_pipeline(cfg, spark_factory=lambda: spark, progress=False)
    return RunDir(out), cfg, summary


def _statuses(summary: dict) -> dict[str, str]:
    return {s: v["status"] for s, v in summary["stages"].items()}


@pytest.mark.slow
def test_full_run_produces_every_output(full_run):
    run, cfg, summary = full_run
    assert list(summary["stages"]) == RUN_STAGES
    assert summary["stages"]["ingest"]["status"] == "skipped"  # complete before we started
    assert all(summary["stages"][s]["status"] == "done" for s in RUN_STAGES[1:])
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
    assert (run.reports / "report.html").exists() and (run.root / "catalog.duckdb").exists()
    # One report shape for every stage; every output table carries its stage's fingerprint.
    for name in RUN_STAGES:
        report = json.loads(run.report(name).read_text())
        assert set(report) == {"stage", "fingerprint", "inputs", "elapsed_s", "skipped", "figures"}, name
    for table in ("dedup", "sample", "labels", "model", "annotations", "variants/BE-Base"):
        stage = run.marker(table)["stage"]
        assert run.marker(table)["fingerprint"] == json.loads(run.report(stage).read_text())["fingerprint"], table
    assert json.loads(run.report("run").read_text())["stages"]["emit"]["status"] == "done"


@pytest.mark.slow
def test_notebook_on_the_sample_run(full_run):
    from test_notebook import execute_notebook, outputs

    text, images = outputs(execute_notebook(full_run[0].root))
    assert images >= 3 and "BE-All" in text


@pytest.mark.slow
def test_second_run_skips_everything_and_a_killed_run_resumes(full_run, spark):
    run, cfg, _ = full_run
    started = time.time()
    again = run_pipeline(cfg, spark_factory=lambda: spark, progress=False)
    assert _statuses(again) == {s: "skipped" for s in RUN_STAGES}
    assert time.time() - started < 30
    # Killed mid-emit: one variant lost its marker, a temp folder is left behind, the html is gone.
    (run.table("variants/BE-French") / "_COMPLETE").unlink()
    (run.root / ".tmp-variants_BE-French-0badc0de" / "commercial").mkdir(parents=True)
    (run.reports / "report.html").unlink()
    resumed = run_pipeline(cfg, spark_factory=lambda: spark, progress=False)
    before_emit = RUN_STAGES[:RUN_STAGES.index("emit")]
    assert _statuses(resumed) == {**{s: "skipped" for s in before_emit}, "emit": "done", "catalog": "skipped",
                                  "report": "done"}
    emitted = json.loads(run.report("emit").read_text())["figures"]["variants"]
    assert {k: v["skipped"] for k, v in emitted.items()} == {"BE-Base": True, "BE-French": False, "BE-All": True}
    assert not list(run.root.glob(".tmp-*")) and run.is_complete("variants/BE-French")
    assert (run.reports / "report.html").exists()


@pytest.mark.slow
def test_changed_settings_redo_that_stage_and_later_ones_not_earlier(full_run, spark, tmp_path):
    run0, cfg0, _ = full_run
    out = tmp_path / "run"
    shutil.copytree(run0.root, out)
    cfg = apply_overrides(cfg0, {"out": str(out)})

    def statuses(overrides, stages):
        return _statuses(run_pipeline(apply_overrides(cfg, overrides), stages=stages, spark_factory=lambda: spark,
                                      progress=False))

    early = ["ingest", "dedup", "sample"]
    # An execution knob (batch size) is not a settings change: everything is skipped.
    assert statuses({"dedup.batch_size": 64}, early) == {s: "skipped" for s in early}
    # dedup changed but not selected: sample is consistent with the dedup outputs that exist, so it stays.
    assert statuses({"dedup.threshold": 0.95}, ["sample"]) == {"sample": "skipped"}
    # A real change to dedup redoes dedup and the stages built on its output, never ingest.
    before = json.loads(RunDir(out).report("dedup").read_text())["figures"]
    assert statuses({"dedup.threshold": 0.95}, early) == {"ingest": "skipped", "dedup": "done", "sample": "done"}
    after = json.loads(RunDir(out).report("dedup").read_text())["figures"]
    assert before["params"]["threshold"] == 0.8 and after["params"]["threshold"] == 0.95
    assert after["near_duplicates"] <= before["near_duplicates"]
    # The new settings are now the recorded ones: running them again skips.
    assert statuses({"dedup.threshold": 0.95}, early) == {s: "skipped" for s in early}
    # Ingest is never redone implicitly: a changed ingest setting is a clear error.
    with pytest.raises(UserError, match="other inputs or settings") as err:
        statuses({"dedup.threshold": 0.95, "ingest.detect_language": False}, early)
    assert "--overwrite" in err.value.hint
