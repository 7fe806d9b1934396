"""`--backend openai` against a real HTTP server on 127.0.0.1 speaking chat-completions.

The server answers each paragraph with its reference label (../annotation/reference-labels.jsonl,
real data) unless told otherwise per paragraph: invalid JSON, out-of-range values, extra or missing
keys, a refusal, 500, 429, a slow answer past the client timeout, a 400 echoing the request headers,
or to die mid-run.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config.label import LabelConfig
from pipeline.labeling.cache import AnswerStore
from pipeline.labeling.core import text_hash
from pipeline.labeling.prompt import SYSTEM_PROMPT, USER_TEMPLATE, prompt_version, truncate_words
from pipeline.labeling.runner import label_run
from pipeline.rundir import RunDir, write_parquet_atomic
from schemas.labels import LABEL_FIELDS, LABEL_JSON_SCHEMA, LABEL_REGEX

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"


def reference_rows(path: Path, n: int, start: int = 0) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    seen, out = set(), []
    for r in rows[start:]:
        if r["text"] not in seen:
            seen.add(r["text"])
            out.append(r)
        if len(out) == n:
            break
    return out


def make_sample_run(root: Path, rows: list[dict]) -> RunDir:
    """A run dir whose sample/ holds these paragraphs (the sample stage's output shape)."""
    run = RunDir(root)
    tmp = run.tmp_path("sample")
    table = pa.table({"paragraph_id": [r["id"] for r in rows], "article_id": [r["source"] for r in rows],
                      "text": [r["text"] for r in rows]})
    write_parquet_atomic(table, tmp / "part-00000.parquet")
    run.publish(tmp, "sample", {"rows": len(rows)})
    return run


class ChatServer:
    """A scriptable OpenAI chat-completions server in a thread."""

    def __init__(self, labels: dict[str, dict], plan: dict[str, list[str]] | None = None,
                 die_after: int | None = None, delay_s: float = 0.0, logprobs: bool = False):
        self.labels = labels  # prompt paragraph (as sent) -> label
        self.logprobs = logprobs  # answer requests asking for logprobs with token logprobs
        self.plan = plan or {}  # paragraph -> actions, one per attempt; then "valid"
        self.die_after = die_after  # stop answering after this many valid answers
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # {"body", "auth", "action"}
        self.valid_sent: Counter = Counter()  # paragraph -> valid answers fully written
        self.attempts: Counter = Counter()
        self.dead = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                if server.dead:
                    self.close_connection = True  # a dead server: the connection drops, no answer
                    return
                paragraph = body["messages"][-1]["content"][len("Paragraph:\n"):]
                with server.lock:
                    n = server.attempts[paragraph]
                    server.attempts[paragraph] += 1
                    actions = server.plan.get(paragraph, [])
                    action = actions[n] if n < len(actions) else "valid"
                    server.requests.append({"body": body, "auth": self.headers.get("Authorization"),
                                            "action": action, "path": self.path})
                if server.delay_s:
                    time.sleep(server.delay_s)
                server.respond(self, paragraph, action)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def respond(self, h: BaseHTTPRequestHandler, paragraph: str, action: str) -> None:
        label = dict(self.labels[paragraph])
        content: str | None = json.dumps(label)
        if self.logprobs and action == "valid":
            content = json.dumps(label, separators=(",", ":"))  # what token_logprobs spells out
        status = 200
        if action == "invalid_json":
            content = content[:-7]
        elif action == "out_of_range":
            content = json.dumps({**label, "educational_score": 7})
        elif action == "bad_type":
            content = json.dumps({**label, "document_type": "case report"})
        elif action == "extra_key":
            content = json.dumps({**label, "confidence": 0.9})
        elif action == "missing":
            content = json.dumps({k: v for k, v in label.items() if k != "language"})
        elif action == "refusal":
            content = "I'm sorry, but I can't help with labelling this text."
        elif action == "slow":
            time.sleep(3.0)  # past the client's timeout (2 s)
        if action in ("500", "429"):
            status, payload = int(action), {"error": {"message": "try later", "type": "server_error"}}
        elif action == "400_echo":
            status = 400
            payload = {"error": {"message": f"bad request; headers were {dict(h.headers)}"}}
        else:
            choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
            if self.logprobs and action == "valid":
                choice["logprobs"] = {"content": token_logprobs(label, label_distributions(paragraph, label))}
            payload = {"id": "cmpl-1", "object": "chat.completion", "model": "test-model",
                       "choices": [choice],
                       "usage": {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930}}
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            if status == 429:
                h.send_header("Retry-After", "0")
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:
            return
        if status == 200 and action == "valid":
            with self.lock:
                self.valid_sent[paragraph] += 1
                if self.die_after is not None and sum(self.valid_sent.values()) >= self.die_after:
                    self.die()

    def die(self) -> None:
        self.dead = True

        def stop():  # stop accepting and close the listening socket: new connections are refused
            self.httpd.shutdown()
            self.httpd.server_close()

        threading.Thread(target=stop, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def label_distributions(paragraph: str, label: dict) -> dict[str, list[float]]:
    """A made-up but deterministic confidence per field: the label's class gets 0.5-0.89 (from a
    hash of the paragraph), the other classes share the rest."""
    from schemas.labels import DOCUMENT_TYPES, DOMAINS, SCORES

    top = 0.5 + (int(text_hash(paragraph)[:4], 16) % 40) / 100
    out = {}
    for field, classes in (("document_type", DOCUMENT_TYPES), ("domain", DOMAINS), ("educational_score", SCORES)):
        rest = (1 - top) / (len(classes) - 1)
        out[field] = [top if c == label[field] else rest for c in classes]
    return out


def token_logprobs(label: dict, dists: dict[str, list[float]]) -> list[dict]:
    """``logprobs.content`` for the compact label JSON, tokenised like a BPE would roughly do it:
    the class values are single tokens with every class among the top alternatives."""
    import math

    from schemas.labels import DOCUMENT_TYPES, DOMAINS, SCORES

    def fixed(tok):
        return {"token": tok, "logprob": 0.0, "top_logprobs": [{"token": tok, "logprob": 0.0}]}

    def choice(field, classes):
        alts = [{"token": str(c), "logprob": math.log(p)} for c, p in zip(classes, dists[field])]
        chosen = str(label[field])
        return {"token": chosen, "logprob": next(a["logprob"] for a in alts if a["token"] == chosen),
                "top_logprobs": sorted(alts, key=lambda a: -a["logprob"])}

    return [fixed('{"'), fixed("document"), fixed("_type"), fixed('":"'), choice("document_type", DOCUMENT_TYPES),
            fixed('","'), fixed("domain"), fixed('":"'), choice("domain", DOMAINS), fixed('","'),
            fixed("educational_score"), fixed('":'), choice("educational_score", SCORES), fixed(',"'),
            fixed("language"), fixed('":"'), fixed(label["language"]), fixed('"}')]


def label_map(rows: list[dict]) -> dict[str, dict]:
    return {truncate_words(r["text"], 400): {k: r[k] for k in LABEL_FIELDS} for r in rows}


def fast_cfg(server: ChatServer, **kw) -> LabelConfig:
    base = dict(backend="openai", base_url=server.base_url, model="test-model", concurrency=8, timeout_s=2.0,
                max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05, abort_after_failures=8)
    base.update(kw)
    return LabelConfig(**base)


def labels_table(run: RunDir) -> list[dict]:
    return pq.read_table(run.table("labels")).to_pylist()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def test_labels_retries_validation_and_request_shape(tmp_path, reference_labels, caplog):
    caplog.set_level(logging.DEBUG)
    rows = reference_rows(reference_labels, 40)
    texts = [truncate_words(r["text"], 400) for r in rows]
    plan = {
        texts[0]: ["500", "500"],  # two transport retries, then valid
        texts[1]: ["429"],
        texts[2]: ["slow"],  # client timeout, retried
        texts[3]: ["invalid_json"],  # one validation re-ask, then valid
        texts[4]: ["out_of_range"] * 3,  # invalid after max_invalid_retries=2 re-asks
        texts[5]: ["extra_key"] * 3,
        texts[6]: ["missing"] * 3,
        texts[7]: ["refusal"] * 3,
        texts[8]: ["bad_type"] * 3,
        texts[9]: ["400_echo"],  # not retried; recorded invalid, the echoed key scrubbed
    }
    server = ChatServer(label_map(rows), plan)
    try:
        run = make_sample_run(tmp_path / "run", rows)
        report = label_run(run, fast_cfg(server), progress=False)
    finally:
        server.close()

    assert report["complete"] is True
    assert report["distinct_texts"] == 40 and report["sent"] == 40
    by_id = {r["paragraph_id"]: r for r in labels_table(run)}
    assert len(by_id) == 40
    # valid labels are exactly the reference labels, no coercion
    for r in rows[:4] + rows[10:]:
        got = by_id[r["id"]]
        assert got["status"] == "ok" and {k: got[k] for k in LABEL_FIELDS} == {k: r[k] for k in LABEL_FIELDS}
        assert got["raw_response"] is None and got["labeller"] == "test-model"
        assert got["text"] == r["text"] and got["text_hash"] == text_hash(r["text"])
    expected_invalid = {rows[4]["id"]: "invalid_value", rows[5]["id"]: "extra_field", rows[6]["id"]: "missing_field",
                        rows[7]["id"]: "refusal", rows[8]["id"]: "invalid_value", rows[9]["id"]: "http_400"}
    for pid, reason in expected_invalid.items():
        got = by_id[pid]
        assert got["status"] == "invalid" and got["invalid_reason"] == reason
        assert got["raw_response"] and got["document_type"] is None and got["educational_score"] is None
    assert '"educational_score": 7' in by_id[rows[4]["id"]]["raw_response"]
    assert "I'm sorry" in by_id[rows[7]["id"]]["raw_response"]
    assert "***" in by_id[rows[9]["id"]]["raw_response"]

    # attempts seen by the server
    assert server.attempts[texts[0]] == 3 and server.attempts[texts[1]] == 2 and server.attempts[texts[2]] == 2
    assert server.attempts[texts[3]] == 2 and server.attempts[texts[4]] == 3 and server.attempts[texts[9]] == 1
    assert report["retries"] == 4  # 2 × 500, 1 × 429, 1 × timeout
    assert report["validation_retries"] == 1 + 2 * 5
    assert report["invalid_final_by_reason"] == {"invalid_value": 2, "extra_field": 1, "missing_field": 1,
                                                 "refusal": 1, "http_400": 1}
    assert report["invalid_attempts_by_reason"]["invalid_value"] == 6
    assert report["invalid_attempts_by_reason"]["bad_json"] == 1
    assert report["successes"] == 34 and report["ok"] == 34 and report["invalid"] == 6
    assert report["prompt_tokens"] == 900 * report["http_status"]["200"]
    assert report["requests"] == len(server.requests)  # every attempt, the timed-out one included
    assert sum(report["distributions"]["document_type"].values()) == 34

    # request shape: schema-constrained, temperature 0, fixed prefix byte-identical, paragraph last
    bodies = [r["body"] for r in server.requests]
    assert all(r["path"] == "/v1/chat/completions" for r in server.requests)
    assert all(b["response_format"]["type"] == "json_schema" for b in bodies)
    assert all(b["response_format"]["json_schema"]["schema"] == LABEL_JSON_SCHEMA for b in bodies)
    assert all(b["temperature"] == 0 and b["model"] == "test-model" for b in bodies)
    assert {json.dumps(b["messages"][0]) for b in bodies} == {json.dumps({"role": "system", "content": SYSTEM_PROMPT})}
    assert all(b["messages"][-1]["content"] == USER_TEMPLATE.format(paragraph=b["messages"][-1]["content"][11:])
               for b in bodies)
    assert all(r["auth"] == f"Bearer {SECRET}" for r in server.requests)

    # the key is never written anywhere: run dir files, report, logs
    for path in run.root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in caplog.text
    assert SECRET not in json.dumps(report)


def test_regex_constraint_goes_in_structured_outputs(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 5)
    server = ChatServer(label_map(rows))
    try:
        run = make_sample_run(tmp_path / "run", rows)
        report = label_run(run, fast_cfg(server, constraint="regex"), progress=False)
    finally:
        server.close()
    assert report["ok"] == 5
    for r in server.requests:
        assert r["body"]["structured_outputs"] == {"regex": LABEL_REGEX} and "response_format" not in r["body"]


def test_server_dies_mid_run_then_resume_without_duplicates_or_losses(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 120)
    # two paragraphs share a text: sent once, both rows labelled
    rows.append({**rows[0], "id": "dup-of-first"})
    labels = label_map(rows)
    run = make_sample_run(tmp_path / "run", rows)

    first = ChatServer(labels, die_after=50)
    try:
        report1 = label_run(run, fast_cfg(first), progress=False)
    finally:
        first.close()
    assert report1["complete"] is False and report1["pending"] > 0
    assert not run.is_complete("labels")
    done1 = sum(first.valid_sent.values())
    assert 50 <= done1 < 120
    assert report1["failures_by_reason"]  # transport failures, left pending (not cached as invalid)

    second = ChatServer(labels)
    try:
        report2 = label_run(run, fast_cfg(second), progress=False)
    finally:
        second.close()
    assert report2["complete"] is True
    assert report2["cached"] == done1 and report2["sent"] == 120 - done1
    # nothing labelled twice: every distinct text got exactly one valid answer across both servers
    total = first.valid_sent + second.valid_sent
    assert len(total) == 120 and set(total.values()) == {1}
    # nothing lost: every input row present once, with its reference label
    table = labels_table(run)
    assert sorted(r["paragraph_id"] for r in table) == sorted(r["id"] for r in rows)
    ref = {r["id"]: r for r in rows}
    assert all(r["status"] == "ok" and r["educational_score"] == ref[r["paragraph_id"]]["educational_score"]
               for r in table)


def test_unauthorised_stops_the_run_and_caches_nothing(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 30)
    texts = [truncate_words(r["text"], 400) for r in rows]
    server = ChatServer(label_map(rows))

    def unauthorised(h, paragraph, action):
        data = b'{"error": {"message": "invalid api key"}}'
        h.send_response(401)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    server.respond = unauthorised
    try:
        run = make_sample_run(tmp_path / "run", rows)
        report = label_run(run, fast_cfg(server), progress=False)
    finally:
        server.close()
    assert report["complete"] is False and report["pending"] == 30
    assert report["retries"] == 0  # a 401 is not retried
    assert len(server.requests) <= 8  # the workers stop at once
    with AnswerStore(run.table("label_cache")) as store:
        assert store.load("test-model", prompt_version(400)) == {}
    assert set(texts)  # sanity


def test_persistent_5xx_stays_pending_not_cached_as_invalid(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 12)
    texts = [truncate_words(r["text"], 400) for r in rows]
    server = ChatServer(label_map(rows), plan={texts[5]: ["503"] * 4})
    server_respond = server.respond

    def respond(h, paragraph, action):  # "503": a server error answered with that status
        if action == "503":
            data = b'{"error": {"message": "overloaded"}}'
            h.send_response(503)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        server_respond(h, paragraph, action)

    server.respond = respond
    try:
        run = make_sample_run(tmp_path / "run", rows)
        first = label_run(run, fast_cfg(server), progress=False)  # max_retries=3: 4 attempts, all 503
        assert first["complete"] is False and first["pending"] == 1
        assert first["failures_by_reason"] == {"http_503": 1} and first["retries"] == 3
        second = label_run(run, fast_cfg(server), progress=False)  # the 5th attempt is answered
    finally:
        server.close()
    assert second["complete"] is True and second["cached"] == 11 and second["sent"] == 1
    assert all(r["status"] == "ok" for r in labels_table(run))
