"""Offline vLLM: ``vllm.LLM(...).chat(conversations, sampling_params)`` over large batches.

vllm is imported only here, and only when no engine is injected (tests inject an object with the
same ``chat`` call shape). Names checked against vLLM 0.20.2: ``SamplingParams(structured_outputs=
StructuredOutputsParams(json=... | regex=...))`` and ``LLM.chat(messages, sampling_params, use_tqdm=...)``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from pipeline.config.label import LabelConfig
from pipeline.labeling.core import Item, Sink, Stats, settle_response
from pipeline.labeling.logprobs import field_probs, vllm_tokens
from pipeline.labeling.validate import check_response
from schemas.labels import LABEL_JSON_SCHEMA, LABEL_REGEX

log = logging.getLogger(__name__)

ENGINE_OPTIONS = ("tensor_parallel_size", "max_model_len", "gpu_memory_utilization", "enable_prefix_caching",
                  "tokenizer_mode", "config_format", "load_format", "dtype")


def engine_kwargs(cfg: LabelConfig) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM``: the named options that are set, then ``engine_options``."""
    kwargs = {k: getattr(cfg, k) for k in ENGINE_OPTIONS if getattr(cfg, k) is not None}
    kwargs.update(cfg.engine_options)
    return kwargs


def vllm_sampling_params(cfg: LabelConfig):
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    structured = None
    if cfg.constraint == "json_schema":
        structured = StructuredOutputsParams(json=LABEL_JSON_SCHEMA)
    elif cfg.constraint == "regex":
        structured = StructuredOutputsParams(regex=LABEL_REGEX)
    return SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, structured_outputs=structured,
                          logprobs=cfg.logprobs or None)


class VLLMBackend:
    name = "vllm"

    def __init__(self, cfg: LabelConfig, model: str, engine: Any = None,
                 sampling_params: Callable[[LabelConfig], Any] | None = None):
        self.cfg, self.model = cfg, model
        self.engine = engine
        self._make_params = sampling_params or vllm_sampling_params

    def _get_engine(self, stats: Stats):
        if self.engine is None:
            from vllm import LLM

            started = time.perf_counter()
            kwargs = engine_kwargs(self.cfg)
            log.info("starting vLLM engine for %s with %s", self.model, kwargs)
            self.engine = LLM(model=self.model, **kwargs)
            stats.engine_start_s = round(time.perf_counter() - started, 2)
        return self.engine

    def run(self, items: list[Item], sink: Sink, stats: Stats) -> None:
        if not items:
            return
        engine = self._get_engine(stats)
        params = self._make_params(self.cfg)
        started = time.perf_counter()
        try:
            size = max(1, self.cfg.batch_size)
            for start in range(0, len(items), size):
                # the sink commits each answer as the batch's outputs are booked: a kill loses
                # at most the batch in flight
                self._run_batch(engine, params, items[start:start + size], sink, stats)
        finally:
            stats.label_seconds += time.perf_counter() - started

    def _run_batch(self, engine, params, batch: list[Item], sink: Sink, stats: Stats) -> None:
        todo = [(item, 1, 0, 0) for item in batch]  # (item, attempt, prompt tokens, completion tokens)
        while todo:
            outputs = engine.chat([item.messages for item, *_ in todo], params, use_tqdm=False)
            if len(outputs) != len(todo):
                raise RuntimeError(f"engine returned {len(outputs)} outputs for {len(todo)} conversations")
            stats.requests += len(todo)
            retry = []
            for (item, attempt, p_tok, c_tok), out in zip(todo, outputs):
                completion = out.outputs[0]
                p = len(out.prompt_token_ids or [])
                c = len(completion.token_ids or [])
                stats.add_usage(p, c)
                p_tok, c_tok = p_tok + p, c_tok + c
                checked = check_response(completion.text, completion.finish_reason)
                if settle_response(item, checked, attempt, self.cfg.max_invalid_retries, stats, sink,
                                   lambda: completion.text, p_tok, c_tok, lambda: _probs(completion)):
                    retry.append((item, attempt + 1, p_tok, c_tok))
            todo = retry


def _probs(completion) -> dict | None:
    tokens = vllm_tokens(completion)
    return field_probs(tokens) if tokens else None
