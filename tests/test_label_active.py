"""Active-learning selection (pipeline.active) and a tiny run of the pool-based simulation
(benchmarks/active_learning.py) on the real reference labels. No Spark."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import active

REPO = Path(__file__).resolve().parent.parent


def test_head_uncertainty_entropy_and_margin():
    p = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.7, 0.2, 0.1]])
    h = active.head_uncertainty(p, "entropy")
    assert h[0] == pytest.approx(0.0) and h[1] == pytest.approx(1.0)
    assert h[2] == pytest.approx(np.log(2) / np.log(3))
    m = active.head_uncertainty(p, "margin")
    assert m.tolist() == pytest.approx([0.0, 1.0, 1.0, 0.5])
    combined = active.uncertainty({"a": p, "b": np.tile([[0.5, 0.5]], (4, 1))})
    assert combined.tolist() == pytest.approx(((h + 1.0) / 2).tolist())
    with pytest.raises(ValueError):
        active.head_uncertainty(np.ones((3, 1)))
    # weights: a head with weight 0 does not count
    only_a = active.uncertainty({"a": p, "b": np.tile([[0.5, 0.5]], (4, 1))}, "margin", {"a": 1.0, "b": 0.0})
    assert only_a.tolist() == pytest.approx(m.tolist())
    with pytest.raises(ValueError):
        active.uncertainty({"a": p}, weights={"a": 0.0})


def test_select_uncertain_takes_the_least_sure_and_a_random_share():
    rng = np.random.default_rng(0)
    ids = [f"p{i:04d}" for i in range(1000)]
    scores = rng.random(1000)
    chosen = active.select_uncertain(ids, scores, 100, random_share=0.2, seed=3)
    top = [i for i, why in chosen if why == "uncertainty"]
    rand = [i for i, why in chosen if why == "random"]
    assert len(top) == 80 and len(rand) == 20 and len(set(top) | set(rand)) == 100
    assert sorted(top) == sorted(np.argsort(-scores)[:80].tolist())
    assert scores[rand].mean() < scores[top].min()  # the random share comes from the rest
    # deterministic, and the random share depends on the seed and ids, not on input order
    assert active.select_uncertain(ids, scores, 100, 0.2, seed=3) == chosen
    perm = rng.permutation(1000)
    again = active.select_uncertain([ids[i] for i in perm], scores[perm], 100, 0.2, seed=3)
    assert {ids[perm[i]] for i, _ in again} == {ids[i] for i, _ in chosen}
    assert active.select_uncertain(ids, scores, 100, 0.2, seed=4) != chosen
    assert active.select_uncertain(ids, scores, 5000, 0.0)[-1][1] == "uncertainty"  # capped at the pool


def test_k_center_spreads_a_batch_over_clusters():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 16)) * 10
    # one huge tight cluster (near-copies) and four small ones
    sizes = [400, 10, 10, 10, 10]
    x = np.concatenate([c + rng.normal(scale=0.1, size=(n, 16)) for c, n in zip(centres, sizes)])
    cluster = np.repeat(np.arange(5), sizes)
    picks = active.k_center(x, 5)
    assert sorted(cluster[picks].tolist()) == [0, 1, 2, 3, 4]  # one per cluster, not 5 near-copies
    # measured from what is labelled already: a labelled cluster is not picked first
    picks = active.k_center(x, 4, labelled=x[cluster == 0][:3])
    assert 0 not in cluster[picks].tolist()


def test_select_diverse_covers_more_than_uncertainty_alone():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(8, 8)) * 10
    cluster = rng.integers(0, 8, size=2000)
    x = centres[cluster] + rng.normal(scale=0.5, size=(2000, 8))
    scores = np.where(cluster == 0, 0.9, 0.5) + rng.random(2000) * 0.05  # cluster 0 is the most uncertain
    ids = [str(i) for i in range(2000)]
    unc = active.select_uncertain(ids, scores, 40, random_share=0.0)
    div = active.select_diverse(ids, scores, x, 40, random_share=0.0, candidates=0)
    assert len({cluster[i] for i, _ in unc}) == 1
    assert len({cluster[i] for i, _ in div}) == 8
    assert {why for _, why in div} == {"diverse"}
    mixed = active.select_diverse(ids, scores, x, 40, random_share=0.25, candidates=4)
    assert sum(why == "random" for _, why in mixed) == 10 and len({i for i, _ in mixed}) == 40


def test_tiny_simulation_on_the_reference_labels(reference_labels):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import active_learning as sim

    corpus = sim.load_corpus(reference_labels)
    pool, test = sim.split_articles(corpus, seed=0)
    assert not {corpus.articles[i] for i in pool} & {corpus.articles[i] for i in test}  # held-out articles
    assert 0.25 * len(corpus.texts) <= len(test) <= 0.36 * len(corpus.texts)
    run = sim.simulate(corpus, seed=0, start=150, step=100, until=350)
    for strategy in sim.STRATEGIES:
        curve = run["curves"][strategy]
        assert [p["labels"] for p in curve] == [150, 250, 350]
        assert all(0.0 <= p[m] <= 1.0 for p in curve for m in ("type_macro_f1", "domain_macro_f1",
                                                                 "clinical_case_f1"))
    # the shared random start: every strategy's first point is the same student
    assert len({tuple(run["curves"][s][0].values()) for s in sim.STRATEGIES}) == 1
    # more labels help the random baseline on this data
    assert run["curves"]["random"][-1]["domain_macro_f1"] > run["curves"]["random"][0]["domain_macro_f1"]
    summary = sim.summarise([run])
    assert set(summary["target"]) == {"uncertainty", "diverse", "random_final_type_macro_f1"}
    table = sim.markdown(summary)
    assert "| 350 |" in table and "clinical_case F1" in table
