"""`--backend vllm` through an injected engine with `vllm.LLM.chat`'s call shape.

The engine answers each conversation with the paragraph's reference label (real data), in the
compact form the regex constraint produces, except where told to misbehave; it records every call
so the test can check batching, the sampling params and that the fixed prompt prefix never varies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.config.label import LabelConfig
from pipeline.labeling.prompt import SYSTEM_PROMPT, prompt_version, truncate_words
from pipeline.labeling.runner import label_run
from pipeline.labeling.vllm_backend import engine_kwargs
from schemas.labels import (DOCUMENT_TYPES, DOMAINS, LABEL_FIELDS, LABEL_JSON_SCHEMA, LABEL_REGEX, SCORES, ParagraphLabel,
                            compact_label, matches_regex)

from test_label_openai import make_sample_run, reference_rows


@dataclass
class Completion:  # vllm.outputs.CompletionOutput's fields we use
    text: str
    token_ids: list[int]
    finish_reason: str = "stop"
    logprobs: list[dict] | None = None  # one {token_id: Logprob} per generated token, with SamplingParams(logprobs=k)


@dataclass
class Logprob:  # vllm.logprobs.Logprob
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


def compact_with_logprobs(label: dict, top: float) -> tuple[str, list[int], list[dict]]:
    """The compact label as tokens whose value tokens carry every class as an alternative: the
    label's class with probability ``top``, the other classes sharing the rest."""
    import math

    from schemas.labels import DOCUMENT_TYPES, DOMAINS, SCORES

    pieces = [('{"document_type":"', None), (label["document_type"], DOCUMENT_TYPES), ('","domain":"', None),
              (label["domain"], DOMAINS), ('","educational_score":', None), (str(label["educational_score"]),
              tuple(str(s) for s in SCORES)), (f',"language":"{label["language"]}"}}', None)]
    ids, steps = [], []
    for n, (text, classes) in enumerate(pieces):
        if classes is None:
            ids.append(n)
            steps.append({n: Logprob(0.0, 1, text)})
            continue
        rest = (1 - top) / (len(classes) - 1)
        step = {1000 * (n + 1) + k: Logprob(math.log(top if c == text else rest), None, c) for k, c in enumerate(classes)}
        chosen = next(i for i, lp in step.items() if lp.decoded_token == text)
        ids.append(chosen)
        steps.append(step)
    return "".join(t for t, _ in pieces), ids, steps


@dataclass
class RequestOutput:  # vllm.outputs.RequestOutput's fields we use
    prompt_token_ids: list[int]
    outputs: list[Completion]


@dataclass
class FakeLLM:
    """Same call shape as vllm.LLM.chat(messages, sampling_params, use_tqdm=...)."""

    labels: dict[str, dict]
    misbehave: dict[str, list[str]] = field(default_factory=dict)  # paragraph -> texts per attempt
    calls: list[tuple[list, object, object]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    fail_on_call: int | None = None
    logprobs_top: float | None = None  # answer with token logprobs (the label's classes at this probability)

    def chat(self, messages, sampling_params=None, use_tqdm=True, **kwargs):
        assert isinstance(messages, list) and all(isinstance(conv, list) for conv in messages)
        self.calls.append((messages, sampling_params, use_tqdm))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("CUDA error: device lost")  # a crash mid-run
        out = []
        for conv in messages:
            paragraph = conv[-1]["content"][len("Paragraph:\n"):]
            n = self.attempts.get(paragraph, 0)
            self.attempts[paragraph] = n + 1
            script = self.misbehave.get(paragraph, [])
            if n < len(script):
                text = script[n]
            elif self.logprobs_top is not None:
                text, ids, steps = compact_with_logprobs(self.labels[paragraph], self.logprobs_top)
                out.append(RequestOutput(list(range(len(conv[0]["content"]) // 4)), [Completion(text, ids, "stop", steps)]))
                continue
            else:
                text = compact_label(ParagraphLabel(**self.labels[paragraph]))
            out.append(RequestOutput(prompt_token_ids=list(range(len(conv[0]["content"]) // 4)),
                                     outputs=[Completion(text, list(range(len(text) // 3)),
                                                         "length" if text.endswith(" ") else "stop")]))
        return out


def params_factory(cfg: LabelConfig) -> dict:
    """Stands in for SamplingParams(structured_outputs=StructuredOutputsParams(...))."""
    structured = {"json": LABEL_JSON_SCHEMA} if cfg.constraint == "json_schema" else {"regex": LABEL_REGEX}
    return {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "structured_outputs": structured}


def engine_for(rows, **kw) -> FakeLLM:
    return FakeLLM({truncate_words(r["text"], 400): {k: r[k] for k in LABEL_FIELDS} for r in rows}, **kw)


def test_offline_batches_validation_and_labels(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 50)
    rows.append({**rows[3], "id": "same-text-as-3"})  # identical text: generated once
    texts = [truncate_words(r["text"], 400) for r in rows]
    engine = engine_for(rows, misbehave={
        texts[0]: ['{"document_type":"study","domain":"biomedical","educational_score":3,"language":"en"'],  # cut
        texts[1]: ['{"document_type":"essay","domain":"other","educational_score":2,"language":"en"}'] * 3,
        texts[2]: ['{"document_type":"study","domain":"other","educational_score":2,"language":"en",'
                   '"confidence":1}'] * 3,
        texts[4]: ["{   " + " " * 20] * 3,  # whitespace wandering until max_tokens (finish_reason length)
    })
    run = make_sample_run(tmp_path / "run", rows)
    cfg = LabelConfig(backend="vllm", model="mistral-7b-test", batch_size=20, constraint="regex",
                      max_invalid_retries=2)
    report = label_run(run, cfg, engine=engine, sampling_params=params_factory, progress=False)

    assert report["complete"] and report["distinct_texts"] == 50 and report["sent"] == 50
    # batches of 20 conversations; the invalid ones of a batch are re-asked together (2 re-asks)
    sizes = [len(c[0]) for c in engine.calls]
    assert sizes == [20, 4, 3, 20, 10]
    assert all(c[2] is False for c in engine.calls)  # our own progress bar, not vLLM's
    assert all(c[1] == {"temperature": 0.0, "max_tokens": 128, "structured_outputs": {"regex": LABEL_REGEX}}
               for c in engine.calls)
    assert {json.dumps(conv[0]) for c in engine.calls for conv in c[0]} == \
        {json.dumps({"role": "system", "content": SYSTEM_PROMPT})}

    table = {r["paragraph_id"]: r for r in pq.read_table(run.table("labels")).to_pylist()}
    assert len(table) == 51
    assert table[rows[0]["id"]]["status"] == "ok"  # valid on the re-ask
    assert table[rows[1]["id"]]["invalid_reason"] == "invalid_value"
    assert table[rows[2]["id"]]["invalid_reason"] == "extra_field"
    assert table[rows[4]["id"]]["invalid_reason"] == "truncated"
    assert table[rows[1]["id"]]["raw_response"].startswith('{"document_type":"essay"')
    for r in rows[5:]:
        got = table[r["id"]]
        assert got["status"] == "ok" and {k: got[k] for k in LABEL_FIELDS} == {k: r[k] for k in LABEL_FIELDS}
        assert got["labeller"] == "mistral-7b-test" and got["prompt_version"] == prompt_version(400)
    assert table["same-text-as-3"]["document_type"] == table[rows[3]["id"]]["document_type"]
    assert report["invalid_final_by_reason"] == {"invalid_value": 1, "extra_field": 1, "truncated": 1}
    assert report["validation_retries"] == 1 + 3 * 2
    assert report["successes"] == 47 and report["requests"] == sum(sizes)
    assert report["prompt_tokens"] > 0 and report["completion_tokens"] > 0


def test_offline_crash_then_resume(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 60, start=500)
    run = make_sample_run(tmp_path / "run", rows)
    cfg = LabelConfig(backend="vllm", model="m", batch_size=25, constraint="json_schema")
    crashing = engine_for(rows, fail_on_call=3)
    with pytest.raises(RuntimeError, match="device lost"):
        label_run(run, cfg, engine=crashing, sampling_params=params_factory, progress=False)
    assert not run.is_complete("labels")
    assert crashing.calls[0][1]["structured_outputs"] == {"json": LABEL_JSON_SCHEMA}

    engine = engine_for(rows)
    report = label_run(run, cfg, engine=engine, sampling_params=params_factory, progress=False)
    assert report["complete"] and report["cached"] == 50 and report["sent"] == 10
    assert sum(len(c[0]) for c in engine.calls) == 10  # the two finished batches are not redone
    table = pq.read_table(run.table("labels")).to_pylist()
    assert sorted(r["paragraph_id"] for r in table) == sorted(r["id"] for r in rows)
    assert all(r["status"] == "ok" for r in table)


def test_engine_options_pass_through():
    cfg = LabelConfig(backend="vllm", model="x", tokenizer_mode="mistral", config_format="mistral",
                      load_format="dummy", max_model_len=4096, gpu_memory_utilization=0.85,
                      enable_prefix_caching=True, tensor_parallel_size=2, engine_options={"seed": 7})
    assert engine_kwargs(cfg) == {"tokenizer_mode": "mistral", "config_format": "mistral", "load_format": "dummy",
                                  "max_model_len": 4096, "gpu_memory_utilization": 0.85,
                                  "enable_prefix_caching": True, "tensor_parallel_size": 2, "seed": 7}


def test_regex_and_schema_agree_with_the_model():
    ok = '{"document_type":"clinical_case","domain":"clinical","educational_score":5,"language":"pt"}'
    assert matches_regex(ok) and ParagraphLabel.model_validate_json(ok)
    for bad in ['{"document_type":"case","domain":"clinical","educational_score":5,"language":"pt"}',
                '{"document_type":"study","domain":"clinical","educational_score":6,"language":"pt"}',
                '{"document_type":"study","domain":"clinical","educational_score":3,"language":"PT"}']:
        assert not matches_regex(bad)
        with pytest.raises(ValueError):
            ParagraphLabel.model_validate_json(bad)
    assert LABEL_JSON_SCHEMA["additionalProperties"] is False
    assert LABEL_JSON_SCHEMA["required"] == list(LABEL_FIELDS)
    assert LABEL_JSON_SCHEMA["properties"]["educational_score"] == {
        **LABEL_JSON_SCHEMA["properties"]["educational_score"], "type": "integer", "minimum": 1, "maximum": 5}


def test_vllm_is_not_imported_by_the_stage():
    import subprocess
    import sys

    code = ("import sys, pipeline.labeling.runner, pipeline.labeling.vllm_backend, jobs.label; "
            "print('vllm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


def test_offline_logprobs_become_probabilities(tmp_path, reference_labels):
    rows = reference_rows(reference_labels, 12, start=300)
    run = make_sample_run(tmp_path / "run", rows)
    engine = engine_for(rows, logprobs_top=0.7)
    cfg = LabelConfig(backend="vllm", model="m", batch_size=5, constraint="regex", logprobs=5)
    report = label_run(run, cfg, engine=engine, sampling_params=params_factory, progress=False)
    assert report["complete"] and report["with_probabilities"] == 12
    for r, got in zip(rows, pq.read_table(run.table("labels")).to_pylist()):
        assert got["document_type_probs"][DOCUMENT_TYPES.index(r["document_type"])] == pytest.approx(0.7)
        assert got["domain_probs"][DOMAINS.index(r["domain"])] == pytest.approx(0.7)
        want = [0.7 if s == r["educational_score"] else 0.075 for s in SCORES]
        assert got["educational_score_probs"] == pytest.approx(want, abs=1e-6)
        assert got["educational_score_expected"] == pytest.approx(sum(p * s for p, s in zip(want, SCORES)), abs=1e-5)
