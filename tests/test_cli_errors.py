"""The one error boundary: every mistake a user can make prints `error: ...` (and a hint), exits 2, shows
no traceback, and fails before Spark starts. One test per mistake listed in the stage-contract issue."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]


def cli(capsys, *argv: str) -> tuple[int, str]:
    """Run the CLI in process; (exit code, stderr + stdout)."""
    started = time.monotonic()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    assert time.monotonic() - started < 20, "a user's mistake must fail before Spark starts"
    assert "Traceback" not in out.err + out.out
    return code, out.err + out.out


def a_run(tmp_path: Path) -> RunDir:
    """A folder holding an (empty) ingest: enough to be a run."""
    run = RunDir(tmp_path / "run")
    for table in ("articles", "paragraphs"):
        tmp = run.tmp_path(table)
        tmp.mkdir()
        pq.write_table(pa.table({"x": [1]}), tmp / "part-0.parquet")
        run.publish(tmp, table, {"stage": "ingest", "fingerprint": "f"})
    return run


@pytest.mark.parametrize("stage", ["dedup", "sample", "annotate", "train", "emit", "decontaminate"])
def test_missing_run_dir(capsys, tmp_path, stage):
    code, text = cli(capsys, stage, str(tmp_path / "nope"))
    assert code == 2 and f"error: {tmp_path / 'nope'}: no such run directory" in text


def test_a_folder_that_is_not_a_run(capsys, tmp_path):
    code, text = cli(capsys, "dedup", str(tmp_path))
    assert code == 2 and "not a pmc-enrich run directory" in text and "hint:" in text


@pytest.mark.parametrize("stage,table,producer", [("annotate", "model", "train"), ("train", "labels", "label")])
def test_missing_upstream_stage_names_the_command(capsys, tmp_path, stage, table, producer):
    run = a_run(tmp_path)
    code, text = cli(capsys, stage, str(run.root))
    assert code == 2 and f"{table}/ is missing" in text and f"pmc-enrich {producer}" in text


@pytest.mark.parametrize("argv,expected", [
    (["--set", "dedup.threshold=2"], "`dedup.threshold`: Input should be less than or equal to 1 (got 2)"),
    (["--threshold", "2"], "`dedup.threshold`: Input should be less than or equal to 1 (got 2.0)"),
    (["--set", "dedup.treshold=0.9"], "unknown config key `dedup.treshold`"),
    (["--set", "spark.mastr=local[1]"], "unknown config key `spark.mastr`"),
    (["--set", "nodots"], "--set expects section.key=value"),
])
def test_bad_values_and_typos(capsys, tmp_path, argv, expected):
    run = a_run(tmp_path)
    code, text = cli(capsys, "dedup", str(run.root), *argv)
    assert code == 2 and expected in text, text
    if "treshold" in expected:
        assert "did you mean `dedup.threshold`?" in text
    if "mastr" in expected:
        assert "did you mean `spark.master`?" in text


@pytest.mark.parametrize("argv,expected", [
    (["--set", 'train.calibration=["isotonic","ordinal"]'], "isotonic and ordinal are alternative score maps"),
    (["--student", "static", "--set", "train.static.encoder=no/such/encoder"],
     "train.static.encoder: no/such/encoder is not a local encoder checkpoint"),
])
def test_student_setting_mistakes(capsys, tmp_path, reference_labels, argv, expected):
    code, text = cli(capsys, "train", str(a_run(tmp_path).root), "--labels", str(reference_labels),
                     "--set", "train.cv_folds=2", "--set", "train.learning_curve=false", *argv)
    assert code == 2 and expected in text, text


def test_malformed_yaml_names_the_file(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dedup:\n  threshold: [0.8\n")
    code, text = cli(capsys, "dedup", str(a_run(tmp_path).root), "--config", str(bad))
    assert code == 2 and f"{bad}: not valid YAML (line" in text


def test_yaml_list_instead_of_mapping(capsys, tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- dedup\n- sample\n")
    code, text = cli(capsys, "run", "--config", str(bad))
    assert code == 2 and "must be a YAML mapping" in text and str(bad) in text


def test_unknown_nested_key_in_a_file(capsys, tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("train:\n  transformer:\n    epoks: 3\n")
    code, text = cli(capsys, "dedup", str(a_run(tmp_path).root), "--config", str(bad))
    assert code == 2 and "unknown config key `train.transformer.epoks`" in text and "train.transformer.epochs" in text


@pytest.mark.parametrize("argv,expected", [
    (["--backend", "openia"], "'openia' is not one of vllm, openai, import"),
    (["--backend", "openai", "--model", "m"], "--backend openai needs --base-url"),
    (["--backend", "import"], "--backend import needs --path"),
    (["--backend", "import", "--path", "/nope/labels.jsonl"], "labels file not found: /nope/labels.jsonl"),
])
def test_label_backend_mistakes(capsys, tmp_path, argv, expected):
    code, text = cli(capsys, "label", str(a_run(tmp_path).root), *argv)
    assert code == 2 and expected in text, text


def test_ingest_mistakes(capsys, tmp_path):
    code, text = cli(capsys, "ingest", "--out", str(tmp_path / "r"))
    assert code == 2 and "no inputs given" in text
    code, text = cli(capsys, "ingest", str(tmp_path / "missing"), "--out", str(tmp_path / "r"))
    assert code == 2 and "input not found" in text


def test_predict_mistakes(capsys, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"body": "no text column here"}) + "\n")
    csv = tmp_path / "rows.csv"
    csv.write_text("text\nhello\n")
    model = tmp_path / "model"
    model.mkdir()
    code, text = cli(capsys, "predict", str(rows), "--model", str(model), "--out", str(tmp_path / "o.jsonl"))
    assert code == 2 and "no fasttext student here" in text, text
    code, text = cli(capsys, "predict", str(csv), "--model", str(model), "--out", str(tmp_path / "o.jsonl"))
    assert code == 2 and "error:" in text
    code, text = cli(capsys, "predict", str(rows), "--model", str(model), "--out", str(tmp_path / "o.txt"))
    assert code == 2 and "expected a .jsonl or .parquet" in text


def test_version_alone(capsys):
    code, text = cli(capsys, "--version")
    assert code == 0 and text.strip().startswith("pmc-enrich ")


def test_debug_shows_the_traceback(tmp_path):
    """In a real process: without --debug one line, with it the traceback."""
    argv = [sys.executable, "-m", "pipeline.cli", "dedup", str(tmp_path / "nope")]
    plain = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    assert plain.returncode == 2 and plain.stderr.startswith("error: ") and "Traceback" not in plain.stderr
    debug = subprocess.run(argv[:3] + ["--debug"] + argv[3:], capture_output=True, text=True, cwd=REPO)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "UserError" in debug.stderr


def test_spark_submit_entry_has_the_cli_options(tmp_path, capsys):
    """`spark-submit jobs/dedup.py` parses exactly the command's options and fails the same way."""
    from jobs._submit import stage_parser
    from pipeline.stages import BY_NAME

    args = stage_parser(BY_NAME["dedup"]).parse_args([str(tmp_path), "--threshold", "0.9", "--no-verify"])
    assert (args.threshold, args.verify) == (0.9, False)
    args = stage_parser(BY_NAME["ingest"]).parse_args(["a", "b", "--out", "r"])
    assert args.inputs == ["a", "b"] and args.run_dir == "r"
    from jobs.dedup import main as dedup_main

    with pytest.raises(SystemExit) as exit_:
        dedup_main([str(tmp_path / "nope")])
    assert exit_.value.code == 2 and "no such run directory" in capsys.readouterr().err


def test_jvm_cache_in_an_unwritable_place_is_one_line(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PMC_ENRICH_CACHE", str(blocker / "cache"))
    code, text = cli(capsys, "jvm-cache")
    assert code == 2 and f"error: jvm-cache: cannot create {blocker / 'cache' / 'jvm'}" in text
    assert "hint: point PMC_ENRICH_CACHE at a writable folder" in text
