"""The durable answer cache, kept log-probabilities and the progress line, against the loopback
chat-completions server of test_label_openai (real reference labels as answers)."""

from __future__ import annotations

import logging
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config.label import LabelConfig
from pipeline.errors import UserError
from pipeline.labeling.cache import DB_NAME, LEGACY_CHUNK, AnswerStore
from pipeline.labeling.core import Stats, cache_key
from pipeline.labeling.logprobs import field_probs
from pipeline.labeling.progress import LabelProgress
from pipeline.labeling.prompt import prompt_version, truncate_words
from pipeline.labeling.runner import label_run
from pipeline.rundir import write_parquet_atomic
from schemas.labels import DOCUMENT_TYPES, DOMAINS, LABEL_FIELDS, LABELS, SCORES

from test_label_openai import (ChatServer, fast_cfg, label_distributions, label_map, labels_table, make_sample_run,
                               reference_rows)

REPO = Path(__file__).resolve().parent.parent
VERSION = prompt_version(400)

# The label run in a child process (the stage's own code), so the test can SIGKILL it.
CHILD = """
import sys
from pipeline.config.label import LabelConfig
from pipeline.labeling.runner import label_run
from pipeline.rundir import RunDir
label_run(RunDir(sys.argv[1]), LabelConfig(backend="openai", base_url=sys.argv[2], model="test-model",
          concurrency=int(sys.argv[3]), logprobs=0), progress=False)
"""


def stored_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM answers").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # the table is not created yet
        return 0


def test_sigkill_loses_only_the_requests_in_flight(tmp_path, reference_labels):
    concurrency = 4
    rows = reference_rows(reference_labels, 120, start=200)
    server = ChatServer(label_map(rows), delay_s=0.03)
    run = make_sample_run(tmp_path / "run", rows)
    db = run.table("label_cache") / DB_NAME
    try:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(run.root), server.base_url, str(concurrency)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, "PMC_ENRICH_LOG": "WARNING"})
        deadline = time.time() + 60
        while time.time() < deadline and stored_count(db) < 30 and proc.poll() is None:
            time.sleep(0.005)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(0.3)  # let the server finish writing answers already under way
        answered_before = {p for p, n in server.valid_sent.items() if n}  # valid answers the server wrote
        requests_before = len(server.requests)

        with AnswerStore(run.table("label_cache")) as store:  # the kill left no stale lock
            stored = store.load("test-model", VERSION)
        by_key = {cache_key("test-model", VERSION, r["text"]): truncate_words(r["text"], 400) for r in rows}
        stored_texts = {by_key[k] for k in stored}
        assert 30 <= len(stored) < 120 and not run.is_complete("labels")
        assert stored_texts <= answered_before
        # answers the server sent that the store lacks: only those in flight at the kill
        lost = answered_before - stored_texts
        assert len(lost) <= concurrency, (len(lost), len(answered_before), len(stored))

        report = label_run(run, fast_cfg(server, logprobs=0), progress=False)
    finally:
        server.close()
    assert report["complete"] is True
    assert report["cached"] == len(stored) and report["sent"] == 120 - len(stored)
    asked_again = {r["body"]["messages"][-1]["content"][len("Paragraph:\n"):]
                   for r in server.requests[requests_before:]}
    assert len(server.requests) - requests_before == 120 - len(stored)
    assert asked_again & answered_before == lost  # paid twice: only what was in flight
    table = labels_table(run)
    assert len(table) == 120 and len({r["paragraph_id"] for r in table}) == 120
    assert all(r["status"] == "ok" for r in table)
    # rows follow the sample's order, not the order answers arrived in
    assert [r["paragraph_id"] for r in table] == [r["id"] for r in rows]


def test_second_label_run_on_the_same_cache_is_refused(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 5)
    server = ChatServer(label_map(rows))
    run = make_sample_run(tmp_path / "run", rows)
    try:
        with AnswerStore(run.table("label_cache")):  # another run holds the cache
            with pytest.raises(UserError, match="another label run is using this cache"):
                label_run(run, fast_cfg(server), progress=False)
        assert len(server.requests) == 0
        report = label_run(run, fast_cfg(server), progress=False)  # free again
    finally:
        server.close()
    assert report["complete"] and report["ok"] == 5


def test_cache_chunks_of_an_earlier_version_are_read(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 20, start=40)
    run = make_sample_run(tmp_path / "run", rows)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    old = [{"key": cache_key("test-model", VERSION, r["text"]), "model": "test-model", "prompt_version": VERSION,
            "status": "ok", **{f: r[f] for f in LABEL_FIELDS}, "invalid_reason": None, "raw_response": None,
            "attempts": 1, "prompt_tokens": 900, "completion_tokens": 30, "created_at": now} for r in rows[:12]]
    write_parquet_atomic(pa.Table.from_pylist(old, schema=LEGACY_CHUNK),
                         run.table("label_cache") / "chunk-00000000000000000001-abcdef12.parquet")
    server = ChatServer(label_map(rows))
    try:
        report = label_run(run, fast_cfg(server), progress=False)
    finally:
        server.close()
    assert report["complete"] and report["cached"] == 12 and report["sent"] == 8
    assert len(server.requests) == 8
    table = labels_table(run)
    assert [r["educational_score"] for r in table] == [r["educational_score"] for r in rows]


def test_logprobs_become_per_field_probabilities(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 30, start=100)
    texts = [truncate_words(r["text"], 400) for r in rows]
    server = ChatServer(label_map(rows), plan={texts[0]: ["invalid_json"], texts[1]: ["out_of_range"] * 3},
                        logprobs=True)
    run = make_sample_run(tmp_path / "run", rows)
    try:
        report = label_run(run, fast_cfg(server, logprobs=5), progress=False)
    finally:
        server.close()
    assert all(r["body"]["logprobs"] is True and r["body"]["top_logprobs"] == 5 for r in server.requests)
    assert report["complete"] and report["ok"] == 29 and report["with_probabilities"] == 29
    table = pq.read_table(run.table("labels"))
    assert table.schema.names == LABELS.names
    assert table.schema.field("document_type_probs").type == pa.list_(pa.float32())
    assert table.schema.field("educational_score_expected").type == pa.float32()
    for r, got in zip(rows, table.to_pylist()):
        if got["status"] != "ok":
            assert got["document_type_probs"] is None and got["educational_score_expected"] is None
            continue
        want = label_distributions(truncate_words(r["text"], 400), r)
        assert got["document_type_probs"] == pytest.approx(want["document_type"], abs=1e-6)
        assert got["domain_probs"] == pytest.approx(want["domain"], abs=1e-6)
        assert got["educational_score_probs"] == pytest.approx(want["educational_score"], abs=1e-6)
        expected = sum(p * s for p, s in zip(want["educational_score"], SCORES))
        assert got["educational_score_expected"] == pytest.approx(expected, abs=1e-5)
        # the hard label is the argmax of the kept distribution
        assert DOCUMENT_TYPES[max(range(4), key=lambda i: got["document_type_probs"][i])] == got["document_type"]
        assert DOMAINS[max(range(3), key=lambda i: got["domain_probs"][i])] == got["domain"]
    assert table.column("round").null_count == 30 and table.column("strategy").null_count == 30


def test_without_logprobs_the_columns_stay_null(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 6)
    server = ChatServer(label_map(rows))  # a server that never returns logprobs
    run = make_sample_run(tmp_path / "run", rows)
    try:
        report = label_run(run, fast_cfg(server), progress=False)
    finally:
        server.close()
    assert report["ok"] == 6 and report["with_probabilities"] == 0
    table = pq.read_table(run.table("labels"))
    for col in ("document_type_probs", "domain_probs", "educational_score_probs", "educational_score_expected"):
        assert table.column(col).null_count == 6


def test_round_and_strategy_come_from_the_sample(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 6, start=10)
    run = make_sample_run(tmp_path / "run", rows)
    sample = pq.read_table(run.table("sample"))
    sample = sample.append_column("round", pa.array([2] * 6, pa.int32())).append_column(
        "strategy", pa.array(["uncertainty"] * 4 + ["random"] * 2))
    write_parquet_atomic(sample, run.table("sample") / "part-00000.parquet")
    server = ChatServer(label_map(rows))
    try:
        label_run(run, fast_cfg(server), progress=False)
    finally:
        server.close()
    table = labels_table(run)
    assert [r["round"] for r in table] == [2] * 6
    assert [r["strategy"] for r in table] == ["uncertainty"] * 4 + ["random"] * 2


def test_field_probs_when_a_value_starts_inside_a_token():
    tokens = [('{"document_type":"st', [('{"document_type":"st', math.log(0.6)), ('{"document_type":"re', math.log(0.3)),
                                        ('{"document_type":"x', math.log(0.1))]),
              ('udy","domain":"', []), ("bio", [("bio", math.log(0.8)), ("clin", math.log(0.2))]),
              ('medical","educational_score":', []), ("4", [("4", math.log(0.5)), ("5", math.log(0.5))]),
              (',"language":"en"}', [])]
    probs = field_probs(tokens)
    assert probs["document_type_probs"] == pytest.approx([0, 2 / 3, 1 / 3, 0])
    assert probs["domain_probs"] == pytest.approx([0.2, 0.8, 0])
    assert probs["educational_score_probs"] == pytest.approx([0, 0, 0, 0.5, 0.5])
    assert probs["educational_score_expected"] == pytest.approx(4.5)
    assert field_probs(tokens[:2]) is None  # a cut answer has no domain: no probabilities


def test_progress_line_without_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.labeling.progress")
    stats = Stats(retries=3, validation_retries=1)
    with LabelProgress(10, stats, "label[openai]", interval_s=0.0, tty=False) as bar:
        for i in range(4):
            bar.update(ok=i != 2)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5  # one per update (interval 0) and one at the end
    assert lines[-1].startswith("label[openai] 4/10 (40.0%) ")
    assert "para/s, valid 75.0%, retries 4, ETA " in lines[-1]


def test_progress_bar_on_a_terminal_keeps_log_lines_whole(capsys):
    stats = Stats()
    other = logging.getLogger("pipeline.some_stage")
    handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with LabelProgress(3, stats, "label[vllm]", tty=True) as bar:
            bar.update(ok=True)
            other.warning("a log line in the middle")
            bar.update(ok=True)
            bar.update(ok=True)
    finally:
        root.removeHandler(handler)
    err = capsys.readouterr().err
    assert "a log line in the middle\n" in err
    # the log line is on a line of its own: never glued into the bar
    line = next(l for l in err.replace("\r", "\n").split("\n") if "a log line in the middle" in l)
    assert line.strip() == "a log line in the middle"
    assert "3/3" in err and "valid 100.0%" in err


def test_a_damaged_cache_file_is_a_clear_error(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 3)
    run = make_sample_run(tmp_path / "run", rows)
    db = run.table("label_cache") / DB_NAME
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match="not a usable label cache"):
        label_run(run, LabelConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="m"), progress=False)
    db.unlink()  # moved away as the hint says: the failed run left no lock behind
    with AnswerStore(run.table("label_cache")) as store:
        assert store.load("m", VERSION) == {}
