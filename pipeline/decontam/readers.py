"""Benchmark files in their published formats → items (benchmark, item id, texts).

Recognised by extension and shape (``format="auto"``), or named explicitly:

- ``pubmedqa``: JSON ``{id: {"QUESTION", "CONTEXTS": [...], "LONG_ANSWER", ...}}`` (ori_pqal.json,
  test_set.json of the PubMedQA repository);
- ``bioasq``: JSON ``{"questions": [{"id", "body", "snippets": [{"text"}], "ideal_answer"}]}``;
- ``medqa``: JSONL ``{"question", "options": {A: ...} or [...], "answer", ...}``;
- ``medmcqa``: JSONL ``{"id", "question", "opa".."opd", "exp", ...}``;
- ``mmlu``: CSV without header: question, A, B, C, D, answer letter (data/test/*_test.csv);
- ``jsonl``: any JSONL whose ``text_fields`` hold the text (strings, lists or nested objects of
  strings); ``id_field`` names the item id (default ``id``, else the line number).

Files may be gzip-compressed (``.gz``). Each text of an item is n-grammed on its own, so no n-gram
spans two unrelated fields; where the question and its answer are read together (MedQA, MedMCQA,
MMLU) they are also joined, as datatrove does, so n-grams spanning the two are found too.
A file that cannot be read or has no recognisable shape is a ``UserError`` naming it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pipeline.errors import UserError

FORMATS = ("auto", "pubmedqa", "bioasq", "medqa", "medmcqa", "mmlu", "jsonl")
FORMAT_HINT = ("formats: PubMedQA/BioASQ JSON, MedQA/MedMCQA JSONL, MMLU CSV (no header), or JSONL with "
               "decontaminate.text_fields naming its text fields")


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str  # the file's name without extensions (e.g. "ori_pqal", "anatomy_test")
    item_id: str
    texts: tuple[str, ...]


def benchmark_name(path: str | Path) -> str:
    name = Path(path).name
    for suffix in (".gz", ".jsonl", ".json", ".csv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _open_text(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"benchmark file not found: {path}")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read benchmark file ({type(exc).__name__}: {exc})") from None


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (lists and objects walked in order)."""
    if isinstance(value, str):
        if value.strip():
            yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _joined(*values: Any) -> str:
    return " ".join(s for v in values for s in _strings(v))


def _texts(*candidates: str) -> tuple[str, ...]:
    out: list[str] = []
    for text in candidates:
        if text and text.strip() and text not in out:
            out.append(text)
    return tuple(out)


def _jsonl_records(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {lineno}: not valid JSON ({exc.msg})", hint=FORMAT_HINT) from None
        if not isinstance(record, dict):
            raise UserError(f"{path}: line {lineno}: expected a JSON object, got {type(record).__name__}",
                            hint=FORMAT_HINT)
        yield lineno, record


# ------------------------------------------------------------------------------ per format


def _pubmedqa(name: str, data: dict) -> list[BenchmarkItem]:
    items = []
    for pid, rec in data.items():
        if not isinstance(rec, dict):
            raise UserError(f"{name}: PubMedQA item {pid!r} is not an object", hint=FORMAT_HINT)
        items.append(BenchmarkItem(name, str(pid), _texts(
            _joined(rec.get("QUESTION")), _joined(rec.get("CONTEXTS")), _joined(rec.get("LONG_ANSWER")))))
    return items


def _bioasq(name: str, data: dict) -> list[BenchmarkItem]:
    items = []
    for k, q in enumerate(data.get("questions") or []):
        if not isinstance(q, dict):
            raise UserError(f"{name}: BioASQ question {k} is not an object", hint=FORMAT_HINT)
        snippets = [s.get("text") for s in q.get("snippets") or [] if isinstance(s, dict)]
        items.append(BenchmarkItem(name, str(q.get("id", k)), _texts(
            _joined(q.get("body")), *[_joined(s) for s in snippets], _joined(q.get("ideal_answer")))))
    return items


def _medqa(name: str, lineno: int, rec: dict) -> BenchmarkItem:
    question, answer = _joined(rec.get("question")), _joined(rec.get("answer"))
    return BenchmarkItem(name, str(rec.get("id", lineno)), _texts(
        f"{question} {answer}".strip(), _joined(rec.get("options"))))


def _medmcqa(name: str, lineno: int, rec: dict) -> BenchmarkItem:
    options = [rec.get(k) for k in ("opa", "opb", "opc", "opd")]
    cop = rec.get("cop")
    correct = options[cop - 1] if isinstance(cop, int) and 1 <= cop <= 4 else None  # cop is 1-based
    question = _joined(rec.get("question"))
    return BenchmarkItem(name, str(rec.get("id", lineno)), _texts(
        f"{question} {_joined(correct)}".strip(), _joined(options), _joined(rec.get("exp"))))


def _generic(name: str, lineno: int, rec: dict, text_fields: list[str], id_field: str) -> BenchmarkItem:
    return BenchmarkItem(name, str(rec.get(id_field, lineno)), _texts(*[_joined(rec.get(f)) for f in text_fields]))


def _mmlu(path: Path, name: str, text: str) -> list[BenchmarkItem]:
    items = []
    for k, row in enumerate(csv.reader(io.StringIO(text))):
        if not row:
            continue
        if len(row) < 6:
            raise UserError(f"{path}: row {k + 1}: expected 6 columns (question, A, B, C, D, answer), got {len(row)}",
                            hint=FORMAT_HINT)
        question, options, answer = row[0], row[1:5], row[5].strip().upper()
        if k == 0 and question.strip().lower() == "question":
            continue  # a header some copies add
        correct = options["ABCD".index(answer)] if answer in ("A", "B", "C", "D") else ""
        items.append(BenchmarkItem(name, str(k), _texts(f"{question} {correct}".strip(), " ".join(options))))
    return items


def _jsonl_kind(rec: dict) -> str:
    if "question" in rec and "opa" in rec:
        return "medmcqa"
    if "question" in rec and "options" in rec:
        return "medqa"
    return "jsonl"


def read_benchmark(path: str | Path, fmt: str = "auto", text_fields: list[str] | None = None,
                   id_field: str = "id") -> list[BenchmarkItem]:
    """All items of one benchmark file; items with no text are dropped."""
    path = Path(path)
    if fmt not in FORMATS:
        raise UserError(f"unknown benchmark format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
    name = benchmark_name(path)
    text = _open_text(path)
    lower = path.name.lower().removesuffix(".gz")
    if fmt == "mmlu" or (fmt == "auto" and lower.endswith(".csv")):
        items = _mmlu(path, name, text)
    elif fmt in ("pubmedqa", "bioasq") or (fmt == "auto" and lower.endswith(".json")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})", hint=FORMAT_HINT) from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}", hint=FORMAT_HINT)
        if fmt == "bioasq" or (fmt == "auto" and isinstance(data.get("questions"), list)):
            items = _bioasq(name, data)
        elif fmt == "pubmedqa" or (data and all(isinstance(v, dict) and "QUESTION" in v for v in data.values())):
            items = _pubmedqa(name, data)
        else:
            raise UserError(f"{path}: neither PubMedQA ({{id: {{QUESTION, CONTEXTS}}}}) nor BioASQ ({{questions: "
                            "[...]}}) JSON", hint=FORMAT_HINT)
    else:
        fields = list(text_fields) if text_fields is not None else ["text"]
        items = []
        for lineno, rec in _jsonl_records(path, text):
            kind = fmt if fmt != "auto" else _jsonl_kind(rec)
            if kind == "medmcqa":
                items.append(_medmcqa(name, lineno, rec))
            elif kind == "medqa":
                items.append(_medqa(name, lineno, rec))
            else:
                if not fields or not any(f in rec for f in fields):
                    raise UserError(f"{path}: line {lineno}: no text field {fields or '(none configured)'} in "
                                    f"keys {sorted(rec)[:10]}",
                                    hint="set decontaminate.text_fields to the fields holding the text")
                items.append(_generic(name, lineno, rec, fields, id_field))
    items = [i for i in items if i.texts]
    if not items:
        raise UserError(f"{path}: holds no benchmark item with text", hint=FORMAT_HINT)
    return items
