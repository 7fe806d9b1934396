"""The stage contract on toy stages (no Spark): skip on an unchanged fingerprint, redo on a changed
setting or a changed upstream output, knobs change nothing, a missing upstream stage is refused by
name, a failed build publishes nothing, one report shape; and every declared stage is well formed."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from pipeline.config import PipelineConfig, apply_overrides
from pipeline.errors import MissingStageError, NotARunError, UserError
from pipeline.rundir import RunDir, write_parquet_atomic
from pipeline.stage import Option, Stage, run_stage
from pipeline.stages import STAGES

CALLS: list[str] = []


def _write(ctx, table: str, value) -> None:
    tmp = ctx.run.tmp_path(table)
    write_parquet_atomic(pa.table({"v": [value]}), tmp / "part-0.parquet")
    ctx.publish(tmp, table)


def build_a(ctx) -> dict:
    CALLS.append("a")
    _write(ctx, "a", ctx.cfg.sample.seed)
    return {"seed": ctx.cfg.sample.seed}


def build_b(ctx) -> dict:
    CALLS.append("b")
    if ctx.extras.get("fail"):
        raise RuntimeError("killed mid-build")
    _write(ctx, "b", ctx.cfg.label.limit or 0)
    return {"rows": 1}


A = Stage(name="a", help="first", build="test_contract:build_a", writes=("a",), creates_run=True,
          settings=lambda cfg: {"seed": cfg.sample.seed}, spark=False)
B = Stage(name="b", help="second", build="test_contract:build_b", needs=("a",), writes=("b",), section="label",
          spark=False, options=(Option("limit", "n", key="label.limit", type=int),))
TOY = [A, B]


def go(stage, cfg, **kw):
    return run_stage(stage, cfg, stages=TOY, progress=False, **kw)


@pytest.fixture
def cfg(tmp_path):
    CALLS.clear()
    return PipelineConfig(out=str(tmp_path / "run"))


def test_skip_redo_and_chain(cfg):
    assert not go(A, cfg)["skipped"] and not go(B, cfg)["skipped"]
    assert CALLS == ["a", "b"]
    assert go(A, cfg)["skipped"] and go(B, cfg)["skipped"] and CALLS == ["a", "b"]
    # a knob of B's section (label.concurrency) is not a setting: still skipped
    assert go(B, apply_overrides(cfg, {"label.concurrency": 3}))["skipped"]
    # B's own setting: B redone, A not
    changed = apply_overrides(cfg, {"label.limit": 7})
    assert go(A, changed)["skipped"] and not go(B, changed)["skipped"] and CALLS == ["a", "b", "b"]
    # A's setting: A redone, and B because its input changed
    reseeded = apply_overrides(changed, {"sample.seed": 9})
    assert not go(A, reseeded)["skipped"]
    assert not go(B, reseeded)["skipped"] and CALLS == ["a", "b", "b", "a", "b"]
    # --overwrite redoes an up-to-date stage
    assert not go(B, reseeded, overwrite=True)["skipped"]


def test_report_shape_and_stamped_markers(cfg):
    go(A, cfg)
    report = go(B, cfg)
    run = RunDir(cfg.out)
    saved = json.loads(run.report("b").read_text())
    assert set(saved) == {"stage", "fingerprint", "inputs", "elapsed_s", "skipped", "figures"}
    assert saved["figures"] == {"rows": 1} and saved["fingerprint"] == report["fingerprint"]
    assert saved["inputs"] == {"a": run.marker("a")["fingerprint"]}
    assert run.marker("b")["fingerprint"] == saved["fingerprint"] and run.marker("b")["stage"] == "b"


def test_missing_upstream_is_refused_by_name(cfg, tmp_path):
    RunDir(cfg.out).reports.mkdir(parents=True)  # a run, but stage a never ran in it
    with pytest.raises(MissingStageError) as err:
        go(B, cfg)
    assert "a/ is missing" in str(err.value) and "pmc-enrich a" in err.value.hint and CALLS == []


def test_a_failed_build_publishes_nothing_and_is_redone(cfg):
    go(A, cfg)
    with pytest.raises(RuntimeError):
        go(B, cfg, extras={"fail": True})
    run = RunDir(cfg.out)
    assert not run.is_complete("b") and not run.report("b").exists()
    assert not go(B, cfg)["skipped"] and run.is_complete("b")


def test_a_changed_output_behind_the_runners_back_is_noticed(cfg):
    go(A, cfg)
    go(B, cfg)
    run = RunDir(cfg.out)
    (run.table("b") / "_COMPLETE").unlink()  # a killed rewrite of b
    assert not go(B, cfg)["skipped"]


def test_every_declared_stage_is_well_formed():
    names = [s.name for s in STAGES]
    assert len(set(names)) == len(names)
    written: set[str] = set()
    cfg = PipelineConfig()
    for stage in STAGES:
        stage.build_fn()  # the build resolves
        for table in stage.needs:
            assert table in written, f"{stage.name} needs {table} before any stage writes it"
        written |= set(stage.outputs(cfg))
        for option in stage.options:
            if option.key:
                section, _, rest = option.key.partition(".")
                assert section in PipelineConfig.model_fields, option.key
                apply_overrides(cfg, {option.key: None})  # the key exists (None is skipped, the check is not)


@pytest.mark.parametrize("stage", [s for s in STAGES if s.needs], ids=lambda s: s.name)
def test_every_stage_with_inputs_refuses_a_folder_that_is_not_a_run(stage, tmp_path):
    cfg = PipelineConfig(out=str(tmp_path))
    with pytest.raises(UserError) as err:
        run_stage(stage, cfg, progress=False)
    assert isinstance(err.value, NotARunError) and "ingest" in err.value.hint
