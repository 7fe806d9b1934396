"""`run` rounds (pipeline/rounds.py): stratified round 0, then uncertainty rounds under a label budget,
through the real stages (Spark sample, label against the loopback server answering with the
reference labels, fastText train), resumable: a second call does nothing new."""

from __future__ import annotations

from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipeline.rounds import labelled_so_far, run_rounds
from pipeline.config import PipelineConfig, SampleConfig
from pipeline.config.label import LabelConfig
from pipeline.errors import UserError

from test_label_openai import ChatServer, label_map, reference_rows
from test_sample import build_run


def rounds_config(run, server, **label) -> PipelineConfig:
    cfg = PipelineConfig(out=str(run.root), sample=SampleConfig(size=300, strategy="uncertainty", seed=0),
                         label=LabelConfig(backend="openai", base_url=server.base_url, model="test-model",
                                           concurrency=8, logprobs=0, rounds=3, budget=800, **label))
    train = cfg.train.model_copy(update={"student": "fasttext", "learning_curve": False, "cv_folds": 2})
    return cfg.model_copy(update={"train": train})


@pytest.mark.slow
def test_rounds_under_a_budget_then_resume(spark, reference_labels, tmp_path):
    run, truth = build_run(tmp_path / "run", reference_labels)
    server = ChatServer(label_map(reference_rows(reference_labels, 3000)))
    try:
        cfg = rounds_config(run, server)
        result = run_rounds(cfg, spark_factory=lambda: spark, progress=False)
        labels = pq.read_table(run.table("labels")).to_pylist()
        requests = len(server.requests)
        # a second call: every round is done, nothing is sampled, asked or trained again
        again = run_rounds(cfg, spark_factory=lambda: spark, progress=False)
        # a fourth round is allowed, but the budget is spent
        more = run_rounds(rounds_config(run, server, **{}).model_copy(update={"label": cfg.label.model_copy(
            update={"rounds": 4})}), spark_factory=lambda: spark, progress=False)
    finally:
        server.close()
    assert [r["round"] for r in result["rounds"]] == [0, 1, 2]
    assert [r["strategy"] for r in result["rounds"]] == ["stratified", "uncertainty", "uncertainty"]
    assert [r["size"] for r in result["rounds"]] == [300, 300, 200]  # the last round cut to the budget
    assert result["labelled"] == 800 == len(labels)
    assert len({r["paragraph_id"] for r in labels}) == 800  # no paragraph labelled twice
    by_round = Counter((r["round"], r["strategy"]) for r in labels)
    assert by_round[(0, "stratified")] == 300
    assert by_round[(1, "uncertainty")] + by_round[(1, "random")] == 300 and by_round[(1, "random")] == 30
    assert by_round[(2, "uncertainty")] + by_round[(2, "random")] == 200
    # every paragraph was asked once: earlier rounds' rows came from the answer cache
    assert requests == 800
    assert again["rounds"] == [] and len(server.requests) == requests
    assert more["stopped"] == "budget" and more["rounds"] == [] and labelled_so_far(run) == (800, 2)
    assert run.is_complete("model")


def test_rounds_config_errors(tmp_path):
    cfg = PipelineConfig(out=str(tmp_path), sample=SampleConfig(size=10),
                         label=LabelConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1", rounds=2))
    with pytest.raises(UserError, match="uncertainty or diverse"):
        run_rounds(cfg)
    with pytest.raises(UserError, match="sample.size"):
        run_rounds(cfg.model_copy(update={"sample": SampleConfig(strategy="diverse")}))
