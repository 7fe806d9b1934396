"""Decontamination: benchmark readers, n-grams, matching, and the Spark stage, on real sample text.

Benchmark files are written in their published formats (PubMedQA, BioASQ, MedQA, MedMCQA, MMLU,
generic JSONL) from real paragraphs of the bundled sample: verbatim runs of ≥ 30 words, lightly
edited paragraphs, and every other paragraph left untouched as a control.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.decontam.index import build_index
from pipeline.decontam.match import match_paragraph, match_rows
from pipeline.decontam.ngrams import ngram_hashes, normalize, words
from pipeline.decontam.planted import choose, reference_flags, sample_paragraphs, write_planted
from pipeline.decontam.readers import BenchmarkItem, read_benchmark
from pipeline.dedup.normalize import normalize as dedup_normalize
from pipeline.errors import UserError

SAMPLE = Path(__file__).resolve().parent / "data"
N = 13


@pytest.fixture(scope="module")
def paragraphs() -> list[dict]:
    return sample_paragraphs([SAMPLE / "pmc-oa-bulk", SAMPLE / "jats-other"])


@pytest.fixture(scope="module")
def planted(paragraphs, tmp_path_factory):
    verbatim, edited = choose(paragraphs, n_verbatim=60, n_edited=30)
    return write_planted(tmp_path_factory.mktemp("benchmarks"), verbatim, edited)


@pytest.fixture(scope="module")
def items(planted) -> list[BenchmarkItem]:
    return [item for path in planted.files for item in read_benchmark(path)]


# ------------------------------------------------------------------------------------- readers


def test_each_published_format_is_read_with_its_ids(planted):
    by_file = {p.name: read_benchmark(p) for p in planted.files}
    assert {name: len(found) for name, found in by_file.items()} == {
        "ori_pqal.json": 15, "bioasq_test.json": 15, "medqa_test.jsonl": 15, "medmcqa_dev.jsonl": 15,
        "clinical_knowledge_test.csv": 15, "custom_eval.jsonl": 15}
    for plant in planted.plants:
        (item,) = [i for i in by_file[next(p.name for p in planted.files if p.name.startswith(plant.benchmark))]
                   if i.item_id == plant.item_id]
        assert item.benchmark == plant.benchmark
        # the planted text is inside one of the item's texts (MedQA appends its question stem)
        assert any(" ".join(words(plant.text)) in " ".join(words(t)) for t in item.texts), plant


def test_pubmedqa_contexts_are_joined_and_question_kept(planted):
    path = next(p for p in planted.files if p.name == "ori_pqal.json")
    raw = json.loads(path.read_text())
    first_id = next(iter(raw))
    (item,) = [i for i in read_benchmark(path) if i.item_id == first_id]
    assert item.texts[0] == raw[first_id]["QUESTION"]
    assert item.texts[1] == " ".join(raw[first_id]["CONTEXTS"])


def test_generic_jsonl_with_named_fields_and_gzip(tmp_path, paragraphs):
    import gzip

    texts = [p["text"] for p in paragraphs if p["n_words"] > 40][:3]
    path = tmp_path / "my_eval.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps({"uid": f"q{k}", "prompt": {"context": [t]}, "x": 1}) + "\n"
                                           for k, t in enumerate(texts)).encode()))
    found = read_benchmark(path, text_fields=["prompt"], id_field="uid")
    assert [(i.benchmark, i.item_id, i.texts) for i in found] == [("my_eval", f"q{k}", (t,)) for k, t in enumerate(texts)]


@pytest.mark.parametrize("name, content, message", [
    ("broken.json", '{"1": {"QUESTION": "x"', "not valid JSON"),
    ("list.json", "[1, 2]", "expected a JSON object"),
    ("other.json", '{"a": 1}', "neither PubMedQA"),
    ("bad.jsonl", '{"question": "q", "options": {}}\nnot json\n', "line 2: not valid JSON"),
    ("nofield.jsonl", '{"body": "some text"}\n', "no text field"),
    ("short.csv", "question,A,B\n", "expected 6 columns"),
    ("empty.jsonl", "\n\n", "holds no benchmark item"),
])
def test_bad_benchmark_files_are_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UserError) as err:
        read_benchmark(path)
    assert message in err.value.message and str(path) in err.value.message
    assert "\n" not in err.value.message


def test_missing_benchmark_file(tmp_path):
    with pytest.raises(UserError, match="benchmark file not found"):
        read_benchmark(tmp_path / "nope.json")


# ------------------------------------------------------------------------------------- n-grams


def test_normalisation_is_datatrove_and_hashes_are_of_joined_words(paragraphs):
    """The fast path gives exactly the dedup/datatrove normalisation and the hash of each n-gram's
    words joined by one space, on every paragraph of the sample."""
    from xxhash import xxh64_intdigest

    for p in paragraphs[::7]:
        assert normalize(p["text"]) == dedup_normalize(p["text"])
        toks = dedup_normalize(p["text"]).split()
        expected = [xxh64_intdigest(" ".join(toks[i : i + N]).encode()) for i in range(len(toks) - N + 1)]
        assert [h % (1 << 64) for h in ngram_hashes(p["text"], N)] == expected


def test_short_texts_have_no_ngrams():
    assert ngram_hashes("one two three", N) == [] and ngram_hashes("", N) == [] and ngram_hashes(None, N) == []


# ------------------------------------------------------------------------------------ matching


def test_planted_paragraphs_are_found_and_controls_are_not(paragraphs, planted, items):
    index = build_index(items, N)
    rows = list(match_rows(((p["paragraph_id"], p["text"]) for p in paragraphs), index))
    pairs = {(pid, bench, item) for pid, bench, item, _, _ in rows}
    for plant in planted.plants:  # verbatim and edited: every one found, attributed to its item
        assert (plant.paragraph_id, plant.benchmark, plant.item_id) in pairs, plant
    flagged = {r[0] for r in rows}
    # exactly the paragraphs that share a word 13-gram with any benchmark text (no hash collision,
    # nothing missed): checked by comparing the word tuples themselves
    assert flagged == reference_flags(paragraphs, [t for i in items for t in i.texts], N)
    planted_ids = {p.paragraph_id for p in planted.plants}
    controls = [p for p in paragraphs if p["paragraph_id"] not in planted_ids]
    flagged_controls = [p for p in controls if p["paragraph_id"] in flagged]
    assert len(controls) > 9000
    assert len(flagged_controls) <= 0.002 * len(controls)
    # the few untouched paragraphs flagged repeat a planted text of their own article (abstract and
    # body share sentences): real overlap, not a false flag
    planted_articles = {pid.rsplit(":", 1)[0] for pid in planted_ids}
    assert all(p["article_id"] in planted_articles for p in flagged_controls)


def test_overlap_is_the_share_of_the_paragraphs_ngrams(paragraphs, planted, items):
    index = build_index(items, N)
    by_id = {p["paragraph_id"]: p for p in paragraphs}
    for plant in planted.by_kind("verbatim"):
        text = by_id[plant.paragraph_id]["text"]
        k = index.items.index((plant.benchmark, plant.item_id))
        ((_, matched, overlap),) = [m for m in match_paragraph(text, index) if m[0] == k]
        total = len(ngram_hashes(text, N))
        assert overlap == matched / total
        if " ".join(words(plant.text)) == " ".join(words(text)):  # the whole paragraph was planted
            assert matched == total and overlap == 1.0
    for plant in planted.by_kind("edited"):  # one word in 25 changed: most 13-grams are broken
        text = by_id[plant.paragraph_id]["text"]
        k = index.items.index((plant.benchmark, plant.item_id))
        ((_, matched, overlap),) = [m for m in match_paragraph(text, index) if m[0] == k]
        assert 0 < overlap < 1


def test_thresholds_drop_weak_matches(paragraphs, planted, items):
    index = build_index(items, N)
    by_id = {p["paragraph_id"]: p for p in paragraphs}
    plant = planted.by_kind("edited")[0]
    text = by_id[plant.paragraph_id]["text"]
    (m,) = [m for m in match_paragraph(text, index) if index.items[m[0]] == (plant.benchmark, plant.item_id)]
    assert m[0] in [x[0] for x in match_paragraph(text, index, min_ngrams=m[1])]
    assert m[0] not in [x[0] for x in match_paragraph(text, index, min_ngrams=m[1] + 1)]
    assert all(x[2] >= 0.99 for x in match_paragraph(text, index, min_overlap=0.99))


# ---------------------------------------------------------------------------------- Spark stage


@pytest.fixture(scope="module")
def sample_run(paragraphs, tmp_path_factory):
    """A run directory holding the sample's paragraphs (as ingest writes them, minus Spark)."""
    import pyarrow as pa

    from pipeline.dedup.planted import write_run
    from pipeline.rundir import RunDir
    from schemas.ingest import PARAGRAPHS

    run = RunDir(tmp_path_factory.mktemp("decontam") / "run")
    table = pa.Table.from_pylist(paragraphs, schema=PARAGRAPHS)
    from pipeline.dedup.planted import articles_table

    write_run(run, table, articles_table(p["article_id"] for p in paragraphs), rows_per_file=3000)
    return run


def _cfg(run, files, **decon):
    from pipeline.config import PipelineConfig

    return PipelineConfig.model_validate({"out": str(run.root), "decontaminate": {
        "benchmarks": [str(f) for f in files], **decon}})


def _rows(run) -> list[tuple]:
    t = pq.read_table(run.table("contamination"))
    return sorted(zip(*[t.column(c).to_pylist() for c in ("paragraph_id", "benchmark", "item_id",
                                                           "matched_ngrams", "overlap")]))


@pytest.mark.spark
def test_stage_broadcast_and_join_plans_agree_with_the_pure_core(spark, sample_run, planted, items, paragraphs):
    from jobs.decontaminate import build_decontaminate
    from schemas.contamination import CONTAMINATION

    figures = build_decontaminate(spark, sample_run, _cfg(sample_run, planted.files))
    assert figures["plan"] == "broadcast"
    broadcast = _rows(sample_run)
    assert pq.read_schema(next(sample_run.table("contamination").glob("*.parquet"))).remove_metadata() == \
        CONTAMINATION.remove_metadata()
    expected = sorted(match_rows(((p["paragraph_id"], p["text"]) for p in paragraphs), build_index(items, N)))
    assert broadcast == expected
    flagged = {r[0] for r in broadcast}
    assert figures["paragraphs_flagged"] == len(flagged) and figures["rows"] == len(broadcast)
    assert figures["benchmarks"]["ori_pqal"]["items"] == 15 and figures["benchmarks"]["ori_pqal"]["items_matched"] == 15
    assert figures["paragraphs"] == len(paragraphs)
    marker = sample_run.marker("contamination")
    assert marker["ngram"] == N and set(marker["benchmarks"]) == {"ori_pqal", "bioasq_test", "medqa_test",
                                                                  "medmcqa_dev", "clinical_knowledge_test",
                                                                  "custom_eval"}

    figures = build_decontaminate(spark, sample_run, _cfg(sample_run, planted.files, broadcast_max_ngrams=0))
    assert figures["plan"] == "join"
    assert _rows(sample_run) == broadcast
    assert not [p for p in sample_run.root.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.spark
def test_stage_without_benchmarks_writes_an_empty_sidecar(spark, sample_run):
    from jobs.decontaminate import build_decontaminate

    figures = build_decontaminate(spark, sample_run, _cfg(sample_run, []))
    assert figures["paragraphs_flagged"] == 0 and _rows(sample_run) == []
    assert sample_run.is_complete("contamination")


@pytest.mark.spark
def test_stage_through_the_runner_and_cli(spark, sample_run, planted, capsys):
    """The declared stage runs under the one runner (fingerprint, skip on rerun); a bad benchmark file
    through the CLI is one error line and exit 2."""
    from pipeline.stage import run_stage
    from pipeline.stages import BY_NAME

    cfg = _cfg(sample_run, planted.files[:2], ngram=8)
    report = run_stage(BY_NAME["decontaminate"], cfg, spark_factory=lambda: spark)
    assert report["skipped"] is False and report["figures"]["ngram"] == 8
    assert report["figures"]["paragraphs_flagged"] >= 20
    again = run_stage(BY_NAME["decontaminate"], cfg, spark_factory=lambda: spark)
    assert again["skipped"] is True and again["fingerprint"] == report["fingerprint"]

    from pipeline.cli import main

    bad = planted.files[0].parent / "broken_test.json"
    bad.write_text("{oops")
    with pytest.raises(SystemExit) as exit_:
        main(["decontaminate", str(sample_run.root), "--benchmark", str(bad)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "broken_test.json: not valid JSON" in err and "Traceback" not in err


def test_explicit_format_and_config_validation(tmp_path, planted):
    from pipeline.config import load_config

    csv_copy = tmp_path / "mmlu_rows.txt"  # no telling extension: the format is named
    csv_copy.write_text(next(p for p in planted.files if p.suffix == ".csv").read_text())
    assert len(read_benchmark(csv_copy, fmt="mmlu")) == 15
    with pytest.raises(UserError, match="unknown benchmark format"):
        read_benchmark(csv_copy, fmt="csv")
    cfg = load_config(None, {"decontaminate.benchmarks": [str(csv_copy)], "decontaminate.ngram": 8})
    assert cfg.decontaminate.ngram == 8 and cfg.decontaminate.min_ngrams == 1
    with pytest.raises(UserError, match="decontaminate.ngram"):
        load_config(None, {"decontaminate.ngram": 2})
