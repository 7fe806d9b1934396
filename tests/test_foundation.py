"""Config loading/overrides and the run directory's atomic-publish contract."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from pipeline.config import PipelineConfig, apply_overrides, load_config, parse_set_options
from pipeline.errors import UserError
from pipeline.rundir import MARKER, RunDir, write_json_atomic, write_parquet_atomic


def test_yaml_config_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inputs: [a, b]\nout: runs/x\nspark:\n  shuffle_partitions: 16\nlabel:\n  backend: openai\n")
    cfg = load_config(path, {"spark.master": "local[2]", "label.model": "m", "out": None})
    # relative paths in a file are relative to the file's folder, whatever the working directory
    assert cfg.inputs == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert cfg.out == str(tmp_path / "runs" / "x")  # None overrides never clobber the file
    assert cfg.spark.shuffle_partitions == 16 and cfg.spark.master == "local[2]"
    assert cfg.label.backend == "openai" and cfg.label.model == "m"


def test_config_rejects_unknown_and_invalid(tmp_path):
    with pytest.raises(ValidationError):
        PipelineConfig.model_validate({"inptus": ["typo"]})
    with pytest.raises(UserError, match="label.backend"):
        apply_overrides(PipelineConfig(), {"label.backend": "carrier-pigeon"})
    with pytest.raises(UserError, match="section.key=value"):
        parse_set_options(["no-equals-sign"])
    assert parse_set_options(["spark.shuffle_partitions=3", "label.path=x.jsonl"]) == {
        "spark.shuffle_partitions": 3, "label.path": "x.jsonl"}


def test_publish_is_atomic_and_marks_complete(tmp_path):
    run = RunDir(tmp_path / "run")
    tmp = run.tmp_path("articles")
    tmp.mkdir()
    write_parquet_atomic(pa.table({"x": [1, 2]}), tmp / "part-0.parquet")
    assert not run.is_complete("articles") and not run.table("articles").exists()
    run.publish(tmp, "articles", {"rows": 2})
    assert run.is_complete("articles") and run.marker("articles") == {"rows": 2}
    assert pq.read_table(run.table("articles")).num_rows == 2  # marker is not a Parquet file issue
    # Replacing a table keeps it whole at every moment and leaves no temporaries behind.
    tmp2 = run.tmp_path("articles")
    tmp2.mkdir()
    write_parquet_atomic(pa.table({"x": [7]}), tmp2 / "part-0.parquet")
    run.publish(tmp2, "articles", {"rows": 1})
    assert pq.read_table(run.table("articles")).column("x").to_pylist() == [7]
    (run.root / ".tmp-leftover").mkdir()
    run.clean_temporaries()
    assert sorted(p.name for p in run.root.iterdir()) == ["articles"]
    assert (run.table("articles") / MARKER).exists()


def test_write_json_atomic(tmp_path):
    target = tmp_path / "reports" / "x.json"
    write_json_atomic(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_cli_help_lists_stages():
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "pmc-enrich" in result.output or "Usage" in result.output
