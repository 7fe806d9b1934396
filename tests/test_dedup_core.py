"""Pure-Python dedup core: normalisation, shingle hashes, datasketch-compatible signatures, the
S-curve and the keep rule (no Spark)."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import numpy as np
import pytest
from datasketch import MinHash

from pipeline.config.dedup import DedupConfig
from pipeline.dedup import (MinHasher, candidate_probability, exact_hash, jaccard, keep_sort_key, normalize,
                            shingle_hash, shingle_hashes, shingle_strings)
from pipeline.dedup.batch import SignatureBuilder
from pipeline.dedup.planted import exact_jaccard, load_texts, perturb


@pytest.fixture(scope="module")
def texts(reference_labels):
    return load_texts(reference_labels, min_words=20)


def test_normalisation_uses_datatrove_and_keeps_numbers():
    assert normalize("  The Cat,  sat\u00a0on the MAT!  ") == "the cat sat on the mat"
    assert normalize("Café naïve") == "cafe naive"
    # Numbers are content in biomedical text: not collapsed by default.
    assert normalize("aged 45 years") != normalize("aged 62 years")
    assert normalize("aged 45 years", normalize_numbers=True) == normalize("aged 62 years", normalize_numbers=True)
    assert exact_hash(normalize("A, b. C")) == exact_hash(normalize("a b c"))


def test_shingle_hashes_match_the_scalar_reference(texts):
    norms = [normalize(t) for t in texts[:300]] + ["", "one", "four words only here", "exactly five words in here"]
    flat, counts = shingle_hashes(norms, 5)
    reference = [shingle_hash(s) for n in norms for s in shingle_strings(n, 5)]
    assert counts.tolist() == [len(shingle_strings(n, 5)) for n in norms]
    assert flat.tolist() == reference
    assert counts[-4:].tolist() == [0, 0, 0, 1]


def test_signatures_are_bit_identical_to_datasketch(texts):
    hasher = MinHasher(num_perm=128, seed=1, bands=16, rows=8)
    norms = [normalize(t) for t in texts[:120]]
    flat, counts = shingle_hashes(norms, 5)
    sigs = hasher.signatures(flat, counts)
    assert sigs.shape == (int((counts > 0).sum()), 128) and sigs.dtype == np.uint32
    row = 0
    for norm, count in zip(norms, counts):
        if count == 0:
            continue
        naive = hasher.naive_datasketch(shingle_strings(norm, 5))  # datasketch's per-shingle update loop
        assert naive.scheme == "affine32"
        np.testing.assert_array_equal(naive.hashvalues, sigs[row])
        row += 1
    # Same permutations as a default-seeded datasketch MinHash.
    reference = MinHash(num_perm=128, seed=1)
    np.testing.assert_array_equal(reference.permutations[0], hasher.a)


def test_datasketch_jaccard_estimates_apply(texts):
    hasher = MinHasher(num_perm=128, seed=1, bands=16, rows=8)
    rng = random.Random(0)
    errors = []
    for text in texts[:40]:
        copy = perturb(text, "substitute", max(1, len(text.split()) // 25), rng)
        norms = [normalize(text), normalize(copy)]
        sigs = hasher.signatures(*shingle_hashes(norms, 5))
        estimate = hasher.to_datasketch(sigs[0]).jaccard(hasher.to_datasketch(sigs[1]))
        errors.append(abs(estimate - exact_jaccard(text, copy)))
    # Standard error of a 128-permutation estimate is ≤ 0.045; the mean error is far below that.
    assert np.mean(errors) < 0.06 and max(errors) < 0.2


def test_band_keys_collide_exactly_when_bands_agree():
    hasher = MinHasher(num_perm=16, seed=3, bands=4, rows=4)
    sig = np.arange(32, dtype=np.uint32).reshape(2, 16)
    sig[1, 4:8] = sig[0, 4:8]  # band 1 identical, the others differ
    keys = hasher.band_keys(sig)
    assert keys.dtype == np.int64 and keys.shape == (2, 4)
    assert keys[0, 1] == keys[1, 1]
    assert all(keys[0, b] != keys[1, b] for b in (0, 2, 3))


def test_signature_batch_guards_short_texts():
    cfg = DedupConfig(min_shingles=10)
    long_text = " ".join(f"word{i}" for i in range(30))  # 26 shingles
    short_text = "not applicable to this study at all here"  # 8 words → 4 shingles
    batch = SignatureBuilder(cfg).build(["a:00000", "b:00000", "c:00000", "d:00000"],
                                        [long_text, short_text, "", "   "])
    rows = batch.to_pylist()
    assert rows[0]["n_shingles"] == 26 and len(rows[0]["shingles"]) == 26 and len(rows[0]["bands"]) == 16
    assert rows[1]["n_shingles"] == 4 and rows[1]["bands"] is None and rows[1]["shingles"] is None
    # Blank paragraphs are duplicates of nothing.
    assert rows[2]["exact_hash"] != rows[3]["exact_hash"]


def test_s_curve_for_the_defaults():
    cfg = DedupConfig()
    assert (cfg.bands, cfg.rows, cfg.num_perm, cfg.threshold) == (16, 8, 128, 0.8)
    assert candidate_probability(0.8, 16, 8) == pytest.approx(0.9469, abs=1e-3)
    assert candidate_probability(0.85, 16, 8) > 0.99
    assert candidate_probability(0.5, 16, 8) < 0.07
    with pytest.raises(ValueError):
        DedupConfig(num_perm=128, bands=10, rows=8)


def test_keep_rule_order():
    t = datetime(2020, 1, 1, tzinfo=timezone.utc)
    rows = [
        {"paragraph_id": "PMC9:00001", "article_id": "PMC9", "ordinal": 1, "commercial": False, "year": 2001, "last_updated": t},
        {"paragraph_id": "PMC5:00004", "article_id": "PMC5", "ordinal": 4, "commercial": True, "year": 2015, "last_updated": t},
        {"paragraph_id": "PMC7:00002", "article_id": "PMC7", "ordinal": 2, "commercial": True, "year": 2012, "last_updated": t},
        {"paragraph_id": "PMC6:00003", "article_id": "PMC6", "ordinal": 3, "commercial": True, "year": 2012, "last_updated": t},
        {"paragraph_id": "PMC6:00001", "article_id": "PMC6", "ordinal": 1, "commercial": True, "year": 2012, "last_updated": t},
        {"paragraph_id": "PMC1:00000", "article_id": "PMC1", "ordinal": 0, "commercial": True, "year": None, "last_updated": None},
    ]
    order = [r["paragraph_id"] for r in sorted(rows, key=keep_sort_key)]
    # commercial first; earliest year; then lowest article_id; then lowest ordinal; missing year last.
    assert order == ["PMC6:00001", "PMC6:00003", "PMC7:00002", "PMC5:00004", "PMC1:00000", "PMC9:00001"]


def test_exact_jaccard_of_planted_edits(texts):
    rng = random.Random(1)
    text = next(t for t in texts if len(t.split()) >= 100)
    assert exact_jaccard(text, perturb(text, "cosmetic", 0, rng)) == 1.0
    assert exact_jaccard(text, perturb(text, "reorder", 0, rng)) > 0.9
    assert exact_jaccard(text, perturb(text, "substitute", 25, rng)) < 0.5
    assert jaccard([], []) == 0.0


def test_cli_help_and_registration():
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["dedup", "--help"])
    assert result.exit_code == 0
    for option in ("--config", "--master", "--set", "--overwrite", "--threshold", "--no-verify"):
        assert option in result.output
