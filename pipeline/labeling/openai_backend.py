"""Any OpenAI-compatible chat-completions endpoint (vllm serve, SGLang, llama.cpp server, hosted APIs).

httpx async with a fixed pool of workers (bounded concurrency), per-request timeouts, retries with
exponential backoff and jitter on 429 / 5xx / timeouts / connection errors, no retry on other 4xx.
The API key comes from the environment and is scrubbed from anything stored or logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time

import httpx

from pipeline.config.label import LabelConfig
from pipeline.labeling.core import Item, Outcome, Sink, Stats, settle_response
from pipeline.labeling.logprobs import field_probs, openai_tokens
from pipeline.labeling.validate import check_response
from schemas.labels import LABEL_JSON_SCHEMA, LABEL_REGEX

log = logging.getLogger(__name__)

# 4xx that say something about this request's content: recorded as an invalid label (a rerun would
# get the same answer). Other 4xx (401, 403, 404, ...) are configuration errors: the run stops.
CONTENT_4XX = {400, 413, 422}
RETRY_STATUS = {408, 409, 425, 429}
POOL_CONNECTIONS = 16  # connections per httpx client (see _run)


class RequestFailed(Exception):
    """``content``: the server rejected this request's content (recorded as an invalid label);
    ``fatal``: a configuration error (stop the run); neither: transient, retries exhausted."""

    def __init__(self, reason: str, detail: str = "", fatal: bool = False, content: bool = False):
        super().__init__(reason)
        self.reason, self.detail, self.fatal, self.content = reason, detail, fatal, content


def request_body(model: str, messages: list[dict], cfg: LabelConfig) -> dict:
    """The chat-completions body: the output constraint is the label JSON schema
    (``response_format``) or the compact regex (vLLM's ``structured_outputs`` extra field)."""
    body: dict = {"model": model, "messages": messages, "temperature": cfg.temperature,
                  "max_tokens": cfg.max_tokens}
    if cfg.logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = cfg.logprobs
    if cfg.constraint == "json_schema":
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "paragraph_label", "schema": LABEL_JSON_SCHEMA,
                                                   "strict": True}}
    elif cfg.constraint == "regex":
        body["structured_outputs"] = {"regex": LABEL_REGEX}
    return body


class _BodyEncoder:
    """Encodes request bodies fast: everything but the paragraph is serialised once (the system
    prompt and the schema are most of the bytes), the paragraph's JSON string is spliced in."""

    _MARK = "\u0000PARAGRAPH\u0000"

    def __init__(self, model: str, cfg: LabelConfig):
        self.model, self.cfg = model, cfg
        self._template: tuple[bytes, bytes] | None = None
        self._messages_prefix: list[dict] | None = None

    def encode(self, messages: list[dict]) -> bytes:
        head, last = messages[:-1], messages[-1]
        if self._template is None:
            self._messages_prefix = head
            marked = head + [{"role": last["role"], "content": self._MARK}]
            before, after = json.dumps(request_body(self.model, marked, self.cfg)).split(json.dumps(self._MARK), 1)
            self._template = (before.encode(), after.encode())
        if head != self._messages_prefix or set(last) != {"role", "content"}:
            return json.dumps(request_body(self.model, messages, self.cfg)).encode()  # not the usual shape
        before, after = self._template
        return before + json.dumps(last["content"]).encode() + after


class OpenAIBackend:
    name = "openai"

    def __init__(self, cfg: LabelConfig, base_url: str, model: str, api_key: str | None = None):
        self.cfg, self.model = cfg, model
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key if api_key is not None else os.environ.get(cfg.api_key_env) or None
        self._stop = False
        self._consecutive_failures = 0
        self._encoder = _BodyEncoder(model, cfg)

    def scrub(self, text: str | None) -> str | None:
        """Remove the API key from any text that may be stored or logged (servers echo headers)."""
        if text is None or not self._api_key:
            return text
        return text.replace(self._api_key, "***")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        delay = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * (2 ** attempt))
        if retry_after:
            try:
                delay = min(self.cfg.backoff_max_s, max(delay, float(retry_after)))
            except ValueError:
                pass
        return delay * (0.5 + random.random())  # full jitter around the nominal delay

    async def _post(self, client: httpx.AsyncClient, payload: bytes, stats: Stats) -> dict:
        """One request with transport retries; returns the decoded response JSON."""
        reason = "unknown"
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                stats.retries += 1
            retry_after = None
            stats.requests += 1
            try:
                resp = await client.post("/chat/completions", content=payload)
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError as exc:
                reason = "connection_error"
                log.debug("transport error: %s", type(exc).__name__)
            else:
                stats.http_status[str(resp.status_code)] += 1
                if resp.status_code == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        reason = "bad_http_body"
                elif resp.status_code in RETRY_STATUS or resp.status_code >= 500:
                    reason = f"http_{resp.status_code}"
                    retry_after = resp.headers.get("retry-after")
                else:
                    content = resp.status_code in CONTENT_4XX
                    raise RequestFailed(f"http_{resp.status_code}", self.scrub(resp.text[:500]) or "",
                                        fatal=not content, content=content)
            if attempt < self.cfg.max_retries and not self._stop:
                await asyncio.sleep(self._backoff(attempt, retry_after))
            elif self._stop:
                break
        raise RequestFailed(reason)

    async def _label_one(self, client: httpx.AsyncClient, item: Item, sink: Sink, stats: Stats) -> None:
        payload = self._encoder.encode(item.messages)
        prompt_tokens = completion_tokens = 0
        for attempt in range(1, self.cfg.max_invalid_retries + 2):
            try:
                data = await self._post(client, payload, stats)
            except RequestFailed as exc:
                if exc.content:
                    # the server rejected this request's content: a recorded, invalid label
                    stats.invalid_attempts[exc.reason] += 1
                    stats.invalid_final[exc.reason] += 1
                    sink(Outcome(item.key, None, exc.reason, exc.detail, attempt))
                    self._consecutive_failures = 0
                    return
                stats.failures[exc.reason] += 1
                self._consecutive_failures += 1
                if exc.fatal or self._consecutive_failures >= self.cfg.abort_after_failures:
                    if not self._stop:
                        log.error("stopping: %s (%s); unlabelled paragraphs stay pending for a rerun",
                                  exc.reason, "fatal" if exc.fatal else
                                  f"{self._consecutive_failures} failures in a row")
                    self._stop = True
                return
            self._consecutive_failures = 0
            raw, finish, refusal = _message(data)
            usage = (data.get("usage") if isinstance(data, dict) else None) or {}
            stats.add_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
            prompt_tokens += int(usage.get("prompt_tokens") or 0)
            completion_tokens += int(usage.get("completion_tokens") or 0)
            checked = check_response(raw, finish, refusal)
            if not settle_response(item, checked, attempt, self.cfg.max_invalid_retries, stats, sink,
                                   lambda: self.scrub(raw if raw is not None else json.dumps(data)),
                                   prompt_tokens, completion_tokens, lambda: _probs(data)):
                return

    async def _run(self, items: list[Item], sink: Sink, stats: Stats) -> None:
        # Several small connection pools instead of one big one: httpcore scans its whole pool for
        # every request (quadratic in connections), which at 256 in flight made the client, not the
        # server, the bottleneck (~17 ms of CPU per request, measured). With pools of
        # POOL_CONNECTIONS the bookkeeping stays in the tens of microseconds.
        concurrency = max(1, self.cfg.concurrency)
        n_pools = -(-concurrency // POOL_CONNECTIONS)
        per_pool = -(-concurrency // n_pools)
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        timeout = httpx.Timeout(self.cfg.timeout_s, connect=min(10.0, self.cfg.timeout_s))
        queue = iter(items)
        clients = [httpx.AsyncClient(base_url=self.base_url, headers=self._headers(), limits=limits,
                                     timeout=timeout) for _ in range(n_pools)]

        async def worker(client: httpx.AsyncClient) -> None:
            for item in queue:  # a shared iterator: each item is taken by exactly one worker
                if self._stop:
                    return
                await self._label_one(client, item, sink, stats)

        try:
            await asyncio.gather(*(worker(clients[i % n_pools]) for i in range(concurrency)))
        finally:
            for client in clients:
                await client.aclose()

    def run(self, items: list[Item], sink: Sink, stats: Stats) -> None:
        started = time.perf_counter()
        try:
            asyncio.run(self._run(items, sink, stats))
        finally:
            stats.label_seconds += time.perf_counter() - started
        if self._stop:
            # items never attempted are pending too
            attempted = stats.successes + sum(stats.invalid_final.values()) + sum(stats.failures.values())
            stats.failures["not_attempted"] += max(0, len(items) - attempted)


def _probs(data: dict) -> dict | None:
    """Field probabilities from the first choice's logprobs (None when the server sent none)."""
    try:
        tokens = openai_tokens(data["choices"][0])
    except (KeyError, IndexError, TypeError):
        return None
    return field_probs(tokens) if tokens else None


def _message(data: dict) -> tuple[str | None, str | None, str | None]:
    """(content, finish_reason, refusal) of the first choice; (None, ...) if the shape is wrong."""
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        return message.get("content"), choice.get("finish_reason"), message.get("refusal")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None, None, None
