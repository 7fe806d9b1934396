"""Per-field label probabilities from the generated tokens' log-probabilities.

A label is generated as JSON; the model's choice for a field is made at the token where the
field's value starts. Every class value of a field starts with a different character
(clinical_case / study / review / other; clinical / biomedical / other; 1..5), so the top-k
alternatives at that token say how likely each class was: an alternative's text, after the part of
the token that precedes the value, begins with one class's first character. The probabilities are
renormalised over the classes (constrained decoding masks non-class tokens, and top-k leaves out a
tail), so a field always gets a distribution in the schema's class order.

Tokens come as ``[(token_text, [(alternative_text, logprob), ...]), ...]``: the OpenAI
``choices[0].logprobs.content`` shape and vLLM's ``CompletionOutput.logprobs`` both convert to it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from schemas.labels import DOCUMENT_TYPES, DOMAINS, SCORES

Token = tuple[str, Sequence[tuple[str, float]]]

_FIELDS: dict[str, tuple[tuple[str, ...], re.Pattern[str]]] = {
    "document_type": (DOCUMENT_TYPES, re.compile(r'"document_type"\s*:\s*"')),
    "domain": (DOMAINS, re.compile(r'"domain"\s*:\s*"')),
    "educational_score": (tuple(str(s) for s in SCORES), re.compile(r'"educational_score"\s*:\s*')),
}
for _classes, _ in _FIELDS.values():
    assert len({c[0] for c in _classes}) == len(_classes), "class values must start with distinct characters"


def field_probs(tokens: Sequence[Token]) -> dict | None:
    """``{"document_type_probs": [...], "domain_probs": [...], "educational_score_probs": [...],
    "educational_score_expected": float}``, or None when the tokens do not cover every field."""
    if not tokens:
        return None
    text, starts, pos = [], [], 0
    for tok, _ in tokens:
        starts.append(pos)
        text.append(tok)
        pos += len(tok)
    joined = "".join(text)
    out: dict = {}
    for name, (classes, pattern) in _FIELDS.items():
        m = pattern.search(joined)
        if m is None or m.end() >= len(joined):
            return None
        value_at = m.end()
        i = _token_at(starts, value_at)
        tok, alternatives = tokens[i]
        before = tok[: value_at - starts[i]]  # the part of this token that precedes the value
        dist = _class_distribution(before, alternatives or [(tok, 0.0)], classes)
        if dist is None:
            return None
        out[f"{name}_probs"] = dist
    out["educational_score_expected"] = float(sum(p * s for p, s in zip(out["educational_score_probs"], SCORES)))
    return out


def _token_at(starts: Sequence[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:  # last token starting at or before offset
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _class_distribution(before: str, alternatives: Sequence[tuple[str, float]],
                        classes: Sequence[str]) -> list[float] | None:
    first = {c[0]: k for k, c in enumerate(classes)}
    mass = [0.0] * len(classes)
    for alt, logprob in alternatives:
        if alt is None or not alt.startswith(before) or len(alt) <= len(before):
            continue
        rest = alt[len(before):]
        k = first.get(rest[0])
        if k is None or not (classes[k].startswith(rest) or rest.startswith(classes[k])):
            continue
        if logprob is None or math.isnan(logprob):
            continue
        mass[k] += math.exp(max(logprob, -1e4))
    total = sum(mass)
    if total <= 0:
        return None
    return [m / total for m in mass]


def openai_tokens(choice: Mapping) -> list[Token] | None:
    """Tokens from an OpenAI chat-completions choice (``logprobs.content``), None without."""
    content = ((choice.get("logprobs") or {}) if isinstance(choice, Mapping) else {}).get("content")
    if not isinstance(content, list):
        return None
    out: list[Token] = []
    try:
        for t in content:
            alts = [(a["token"], float(a["logprob"])) for a in (t.get("top_logprobs") or [])]
            out.append((t["token"], alts or [(t["token"], float(t["logprob"]))]))
    except (KeyError, TypeError, ValueError):
        return None
    return out


def vllm_tokens(completion) -> list[Token] | None:
    """Tokens from a vLLM ``CompletionOutput`` generated with ``SamplingParams(logprobs=k)``:
    ``logprobs`` is one ``{token_id: Logprob(logprob, rank, decoded_token)}`` per generated token."""
    steps = getattr(completion, "logprobs", None)
    ids = getattr(completion, "token_ids", None)
    if not steps or ids is None or len(steps) != len(ids):
        return None
    out: list[Token] = []
    for token_id, step in zip(ids, steps):
        chosen = step.get(token_id)
        if chosen is None or chosen.decoded_token is None:
            return None
        out.append((chosen.decoded_token, [(lp.decoded_token, lp.logprob) for lp in step.values()]))
    return out
