"""Planted contamination for tests and benchmarks/decontaminate.py: benchmark files in their real
published formats whose texts are real paragraphs of the bundled sample (verbatim, or lightly
edited), so recall and false flags can be measured against a known answer.

Nothing here is used by the stage itself.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from pipeline.decontam.ngrams import words

FORMATS = ("pubmedqa", "bioasq", "medqa", "medmcqa", "mmlu", "jsonl")
FILE_NAMES = {"pubmedqa": "ori_pqal.json", "bioasq": "bioasq_test.json", "medqa": "medqa_test.jsonl",
              "medmcqa": "medmcqa_dev.jsonl", "mmlu": "clinical_knowledge_test.csv", "jsonl": "custom_eval.jsonl"}
ZONES = ("abstract", "body")


@dataclass
class Plant:
    """One planted benchmark item: which paragraph its text came from, and how."""

    paragraph_id: str
    kind: str  # verbatim | edited
    fmt: str
    benchmark: str
    item_id: str
    text: str  # the text put into the benchmark


@dataclass
class Planted:
    plants: list[Plant] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[Plant]:
        return [p for p in self.plants if p.kind == kind]


def sample_paragraphs(dirs: Iterable[str | Path]) -> list[dict]:
    """Every paragraph (PARAGRAPHS-schema dict) of the JATS under ``dirs``, parsed without language
    id (it plays no part here), first copy of each paragraph id only."""
    from pipeline.jats import JatsError, parse_document
    from pipeline.sources import Document, discover_inputs, read_unit

    out, seen = [], set()
    for unit in discover_inputs([str(d) for d in dirs]).units:
        for rec in read_unit(unit, 64 * 1024 * 1024):
            if not isinstance(rec, Document):
                continue
            try:
                parsed = parse_document(rec.data, rec.source, detect_language=False)
            except JatsError:
                continue
            for art in parsed:
                for p in art.paragraphs:
                    if p["paragraph_id"] not in seen:
                        seen.add(p["paragraph_id"])
                        out.append(p)
    return out


def light_edit(text: str, every: int = 25) -> str:
    """Change one word in every ``every`` (the word reversed, so it no longer matches): a benchmark
    author's light rewording. Runs of ``every - 1`` untouched words keep some n-grams intact."""
    toks = text.split()
    for i in range(every // 2, len(toks), every):
        toks[i] = toks[i][::-1] + "x"
    return " ".join(toks)


def window(text: str, rng: random.Random, min_words: int) -> str:
    """A verbatim run of at least ``min_words`` words of ``text`` (the whole text half the time)."""
    toks = text.split()
    if len(toks) <= min_words or rng.random() < 0.5:
        return text
    size = rng.randint(min_words, len(toks))
    start = rng.randint(0, len(toks) - size)
    return " ".join(toks[start : start + size])


def choose(paragraphs: list[dict], n_verbatim: int, n_edited: int, seed: int = 13,
           min_words: int = 40) -> tuple[list[dict], list[dict]]:
    """Paragraphs to plant verbatim and edited: running text of ≥ ``min_words`` words whose
    normalised text occurs once in the sample (a text printed twice would make its copy a true,
    not a false, flag)."""
    counts: dict[str, int] = {}
    for p in paragraphs:
        key = " ".join(words(p["text"]))
        counts[key] = counts.get(key, 0) + 1
    pool = sorted((p for p in paragraphs if p["zone"] in ZONES and p["n_words"] >= min_words
                   and counts[" ".join(words(p["text"]))] == 1), key=lambda p: p["paragraph_id"])
    rng = random.Random(seed)
    rng.shuffle(pool)
    if len(pool) < n_verbatim + n_edited:
        raise ValueError(f"only {len(pool)} eligible paragraphs for {n_verbatim + n_edited} plants")
    return pool[:n_verbatim], pool[n_verbatim : n_verbatim + n_edited]


def _item_records(fmt: str, items: list[tuple[str, str]]) -> str:
    """File content of one benchmark in its published format; ``items``: (item id, text)."""
    options = ["Increased", "Decreased", "Unchanged", "Cannot be determined"]
    if fmt == "pubmedqa":
        data = {}
        for item_id, text in items:
            toks = text.split()
            half = len(toks) // 2
            data[item_id] = {"QUESTION": "Does the finding hold in this population?",
                             "CONTEXTS": [" ".join(toks[:half]), " ".join(toks[half:])],
                             "LABELS": ["BACKGROUND", "RESULTS"], "MESHES": [], "YEAR": "2020",
                             "reasoning_required_pred": "yes", "reasoning_free_pred": "yes",
                             "final_decision": "yes", "LONG_ANSWER": "Yes, it does."}
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt == "bioasq":
        return json.dumps({"questions": [
            {"id": item_id, "type": "summary", "body": "What is known about this finding?",
             "documents": [], "snippets": [{"text": text, "document": "http://www.ncbi.nlm.nih.gov/pubmed/1",
                                            "offsetInBeginSection": 0, "offsetInEndSection": len(text),
                                            "beginSection": "abstract", "endSection": "abstract"}],
             "ideal_answer": ["It is reported in the literature."]} for item_id, text in items]},
            indent=2, ensure_ascii=False)
    if fmt == "medqa":
        return "".join(json.dumps({"question": f"{text} Which of the following is most likely?",
                                   "options": dict(zip("ABCD", options)), "answer": options[0], "answer_idx": "A",
                                   "meta_info": "step1"}, ensure_ascii=False) + "\n" for _, text in items)
    if fmt == "medmcqa":
        return "".join(json.dumps({"id": item_id, "question": "Which of the following is true?",
                                   "opa": options[0], "opb": options[1], "opc": options[2], "opd": options[3],
                                   "cop": 1, "choice_type": "single", "exp": text, "subject_name": "Medicine",
                                   "topic_name": None}, ensure_ascii=False) + "\n" for item_id, text in items)
    if fmt == "mmlu":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for _, text in items:
            writer.writerow([text, *options, "A"])
        return buf.getvalue()
    if fmt == "jsonl":
        return "".join(json.dumps({"id": item_id, "text": text}, ensure_ascii=False) + "\n" for item_id, text in items)
    raise ValueError(fmt)


def _item_id(fmt: str, k: int) -> str:
    # what each reader reports as the id: MedQA and MMLU carry none (line number / row index)
    return {"medqa": str(k + 1), "mmlu": str(k)}.get(fmt, f"{fmt}-{k:04d}")


def write_planted(folder: str | Path, verbatim: list[dict], edited: list[dict], seed: int = 13,
                  min_words: int = 30) -> Planted:
    """Write one benchmark file per format (round robin over the planted paragraphs)."""
    from pipeline.decontam.readers import benchmark_name

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    per_fmt: dict[str, list[tuple[str, str]]] = {f: [] for f in FORMATS}
    result = Planted()
    planned = [(p, "verbatim") for p in verbatim] + [(p, "edited") for p in edited]
    for j, (p, kind) in enumerate(planned):
        fmt = FORMATS[j % len(FORMATS)]
        text = window(p["text"], rng, min_words) if kind == "verbatim" else light_edit(p["text"])
        item_id = _item_id(fmt, len(per_fmt[fmt]))
        per_fmt[fmt].append((item_id, text))
        result.plants.append(Plant(p["paragraph_id"], kind, fmt, benchmark_name(FILE_NAMES[fmt]), item_id, text))
    for fmt, items in per_fmt.items():
        path = folder / FILE_NAMES[fmt]
        path.write_text(_item_records(fmt, items), encoding="utf-8")
        result.files.append(path)
    return result


def reference_flags(paragraphs: list[dict], texts: Iterable[str], n: int) -> set[str]:
    """Paragraph ids sharing at least one word n-gram with ``texts``, by exact comparison of the
    n-gram word tuples (no hashing): the answer the hashed matcher must reproduce."""
    grams: set[tuple[str, ...]] = set()
    for text in texts:
        toks = words(text)
        grams.update(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))
    out = set()
    for p in paragraphs:
        toks = words(p["text"])
        if any(tuple(toks[i : i + n]) in grams for i in range(len(toks) - n + 1)):
            out.add(p["paragraph_id"])
    return out
