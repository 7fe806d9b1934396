"""Pure student code (no Spark): features, split, metrics, fastText heads on the real reference labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifiers.dataset import examples_from_table, read_table, stratified_split
from classifiers.features import context_tokens, normalise, section_kind
from classifiers.fasttext_student import FastTextStudent, build_inputs
from classifiers.heads import DOCUMENT_TYPE, DOMAIN, HEADS
from classifiers.metrics import classification_metrics, score_metrics
from classifiers.predictions import expected_score

# Small, fast settings for tests (the defaults train longer; docs/distill.md has their figures).
FAST = {"epoch": 15, "bucket": 50_000}


@pytest.fixture(scope="module")
def ref(reference_labels):
    ex, skipped = examples_from_table(read_table(reference_labels))
    assert len(ex) == 3000 and skipped == {}
    train_idx, held_idx = stratified_split(ex, 0.2, seed=0)
    return ex, ex.take(train_idx), ex.take(held_idx)


@pytest.fixture(scope="module")
def ft(ref):
    _, train, _ = ref
    return FastTextStudent.train(train, FAST, context_features=("section", "article_type"), seed=0)


def test_normalise_splits_punctuation_maps_digits_and_keeps_accents():
    out = normalise("Hello,\tWORLD\n(12.5%) “quoted” Introdução")
    assert out.split() == ["hello", ",", "world", "(", "00", ".", "0", "%", ")", "“", "quoted", "”", "introdução"]
    assert "\n" not in normalise("a\nb\rc") and normalise(None) == "" and normalise("") == ""


def test_context_tokens_from_titles_and_paths():
    assert section_kind("Materials and Methods") == "methods"
    assert section_kind("Relato de caso") == "case"
    assert section_kind("Zebrafish husbandry") == "other"
    # A path uses the innermost title that names a known kind.
    toks = context_tokens(section=["Methods", "Zebrafish husbandry"], zone="body", article_type="research-article")
    assert toks == ["__sec_methods", "__zone_body", "__atype_research_article"]
    assert context_tokens(section=None, zone=None, article_type=None) == []
    assert context_tokens(section="Results", zone="body", use=("zone",)) == ["__zone_body"]


def test_split_is_deterministic_stratified_and_leak_free(ref):
    ex, train, held = ref
    a = stratified_split(ex, 0.2, seed=0)
    # Same rows in another order → the same texts on each side.
    rev = ex.take(list(range(len(ex)))[::-1])
    b = stratified_split(rev, 0.2, seed=0)
    assert {ex.key[i] for i in a[1]} == {rev.key[i] for i in b[1]}
    assert not {ex.key[i] for i in a[0]} & {ex.key[i] for i in a[1]}
    assert len(held) == pytest.approx(600, abs=10)
    # Every document type, even the 42 clinical cases, is on both sides in proportion.
    # (counted over distinct texts: duplicates such as "None declared." share one side).
    for c in DOCUMENT_TYPE.classes:
        n_all = len({k for k, v in zip(ex.key, ex.labels["document_type"]) if v == c})
        n_held = len({k for k, v in zip(held.key, held.labels["document_type"]) if v == c})
        assert n_held == pytest.approx(0.2 * n_all, abs=2)
    assert {ex.key[i] for i in stratified_split(ex, 0.2, seed=1)[1]} != {ex.key[i] for i in a[1]}


def test_metrics_on_known_values():
    m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b", "c"])
    assert m["accuracy"] == 0.75
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)  # c is absent from the truth: not averaged
    assert m["kappa"] == pytest.approx(0.5)
    assert m["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    s = score_metrics([1, 2, 3, 4], [1.5, 2.0, 3.0, 2.5])
    assert s["mae"] == pytest.approx(0.5)
    assert s["keep_f1"] == pytest.approx(2 / 3)  # truth keeps {3,4}, prediction keeps {3}
    assert -1 <= s["pearson"] <= 1 and s["spearman"] == pytest.approx(0.8)
    assert expected_score(np.array([[0, 0, 1, 0, 0], [0.5, 0, 0, 0, 0.5]], np.float32)).tolist() == [3.0, 3.0]


def test_fasttext_heads_agree_with_heldout_labels(ref, ft):
    _, _, held = ref
    preds = ft.predict(held.text, held.context)
    dt = classification_metrics(held.labels["document_type"], preds.document_type, DOCUMENT_TYPE.classes)
    dm = classification_metrics(held.labels["domain"], preds.domain, DOMAIN.classes)
    sc = score_metrics([int(v) for v in held.labels["educational_score"]], preds.educational_score)
    # Measured on this split with FAST: type F1 0.784 (acc 0.870), domain F1 0.828 (acc 0.850),
    # MAE 0.348, r 0.80 (thread=1: deterministic). Floors leave a margin below.
    assert dt["macro_f1"] >= 0.74 and dt["accuracy"] >= 0.83
    assert dm["macro_f1"] >= 0.77 and dm["accuracy"] >= 0.81
    assert sc["mae"] <= 0.40 and sc["pearson"] >= 0.72
    # A majority-class guess is far below (guards against a degenerate model passing).
    assert dt["kappa"] >= 0.7


def test_fasttext_predict_itself_matches_the_wrapper_and_is_a_distribution(ref, ft):
    _, _, held = ref
    texts, ctx = held.text[:50], {k: v[:50] for k, v in held.context.items()}
    preds = ft.predict(texts, ctx)
    for name, scores in (("document_type", preds.document_type_scores), ("domain", preds.domain_scores),
                         ("educational_score", preds.score_probs)):
        assert scores.dtype == np.float32 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)
        # fastText's own Python predict (k=-1, list input) gives the same distribution under NumPy 2.
        head = next(h for h in HEADS if h.name == name)
        labels, probs = ft.models[name].predict(build_inputs(texts, ctx, ft.context_features), k=-1)
        for i in range(len(texts)):
            # fastText reports exp(log(p + 1e-5)): undo the 1e-5 before comparing.
            want = dict(zip(labels[i], np.clip(probs[i] - 1e-5, 0, 1)))
            got = {f"__label__{c}": scores[i, j] for j, c in enumerate(head.classes)}
            for lab, p in want.items():
                assert got[lab] == pytest.approx(p, abs=1e-5)
    assert np.all((preds.educational_score >= 1) & (preds.educational_score <= 5))


def test_fasttext_save_load_roundtrip_with_and_without_context(ref, ft, tmp_path):
    _, _, held = ref
    ft.save(tmp_path / "ft")
    card = json.loads((tmp_path / "ft" / "student.json").read_text())
    assert card["kind"] == "fasttext" and card["context_features"] == ["section", "article_type"]
    assert card["heads"]["document_type"] == list(DOCUMENT_TYPE.classes) and card["version"].startswith("fasttext-")
    back = FastTextStudent.load(tmp_path / "ft")
    a, b = ft.predict(held.text[:100], held.context), back.predict(held.text[:100], held.context)
    assert np.array_equal(a.document_type_scores, b.document_type_scores)
    assert np.array_equal(a.educational_score, b.educational_score)
    plain = back.predict(held.text[:100])  # no context columns at all
    assert plain.document_type_scores.shape == (100, 4)
    # Context changes some predictions but the text carries most of the signal.
    agree = np.mean(np.array(plain.document_type) == np.array(a.document_type))
    assert 0.75 <= agree <= 1.0
    empty = back.predict(["", "   "])
    # An empty line is fastText's end-of-line token alone: a valid (learned) distribution, no crash.
    assert np.allclose(empty.document_type_scores.sum(axis=1), 1.0)
    assert np.array_equal(empty.document_type_scores[0], empty.document_type_scores[1])


def test_bad_label_rows_are_counted_not_used(tmp_path):
    import pyarrow as pa

    rows = [{"text": "A fine paragraph about cells.", "document_type": "study", "domain": "biomedical",
             "educational_score": 3, "status": "ok"},
            {"text": "x", "document_type": "essay", "domain": "biomedical", "educational_score": 3, "status": "ok"},
            {"text": "y", "document_type": "study", "domain": "biomedical", "educational_score": 7, "status": "ok"},
            {"text": "z", "document_type": "study", "domain": "biomedical", "educational_score": 2, "status": "invalid"},
            {"text": "", "document_type": "study", "domain": "other", "educational_score": 1, "status": "ok"}]
    ex, skipped = examples_from_table(pa.Table.from_pylist(rows))
    assert len(ex) == 1 and ex.labels["educational_score"] == ["3"]
    assert skipped == {"invalid_document_type": 1, "invalid_educational_score": 1, "status_not_ok": 1,
                       "empty_text": 1}
    with pytest.raises(ValueError, match="missing columns"):
        examples_from_table(pa.table({"text": ["a"]}))


def test_shared_forward_equals_fasttext_cpp_predict_on_edge_cases(ref, ft):
    """The NumPy forward pass (one tokenisation for three heads) must give fastText's own numbers."""
    from classifiers.fasttext_fast import fnv1a_int32

    _, _, held = ref
    texts = held.text[:200] + ["", "   ", "x", "zzqxv unseenword ção 東京 😀", "a\tb\u2003c\u00a0d", "p < 0.05 (n = 12)",
                               "word " * 400]
    ctx = {k: v[:200] + [None] * 7 for k, v in held.context.items()}
    assert ft._shared_forward() is not None
    fast = ft.predict(texts, ctx)
    ft.use_shared_forward = False
    try:
        slow = ft.predict(texts, ctx)
    finally:
        ft.use_shared_forward = True
    assert np.abs(fast.document_type_scores - slow.document_type_scores).max() < 1e-4
    assert np.abs(fast.domain_scores - slow.domain_scores).max() < 1e-4
    assert np.abs(fast.educational_score - slow.educational_score).max() < 1e-3
    assert fast.document_type == slow.document_type and fast.domain == slow.domain
    # fastText's hash: FNV-1a over bytes taken as signed chars (matters for non-ASCII words).
    assert fnv1a_int32("a") == np.uint32(0xE40C292C).astype(np.int32).item()  # FNV-1a("a")
