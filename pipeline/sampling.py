"""Stratified sampling of paragraphs for LLM labelling (pure Python; the Spark wrapper is jobs/sample.py).

A paragraph's stratum is the combination of its article type, section family, language, licence
group and length bucket. Each stratum gets a proportional share of the sample with a floor for rare
strata; inside a stratum, paragraphs are taken in the order of a hash of (seed, paragraph_id), so
the sample depends only on the data and the seed, never on partitioning or RNG state.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence

STRATUM_COLUMNS = ("article_type", "section_family", "language", "licence_group", "length_bucket")

# Section titles → family. Checked in order; English, Portuguese, Spanish and French forms, since
# SciELO articles are a large non-English share of PMC OA.
_FAMILY_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("case", re.compile(r"\b(case|caso|cas)\b|case (report|presentation|description)|relato de caso|caso cl[ií]nico|observation", re.I)),
    ("methods", re.compile(r"method|material|m[ée]todo|m[ée]thode|procedure|experimental|patients and|participants|design|statistic|estat[ií]stic", re.I)),
    ("results", re.compile(r"result|resultado|r[ée]sultat|finding", re.I)),
    ("discussion", re.compile(r"discuss|discus[ií][oó]n|discuss[ãa]o", re.I)),
    ("conclusion", re.compile(r"conclu|summary|resumo|resumen|perspective|outlook", re.I)),
    ("introduction", re.compile(r"introduc|introdu[çc][ãa]o|background|antecedent|context|overview|rationale", re.I)),
    ("back", re.compile(r"acknowledg|agradec|remerciement|funding|financ|conflict|competing|interest|author|contribut|ethic|availability|abbreviation|supplement|declaration", re.I)),
]
_ZONE_FAMILY = {"abstract": "abstract", "trans-abstract": "abstract", "back": "back",
                "boxed-text": "boxed", "sub-article": "sub_article",
                # Figure/table captions are their own family: short, formulaic, and over-represented
                # if they were mixed into the section they sit in.
                "caption": "caption"}


def estimate_tokens(n_words: int, tokens_per_word: float = 1.3) -> int:
    """Tokens ≈ words × 1.3 (typical for English BPE tokenizers; no tokenizer needed at this stage)."""
    return int(math.ceil((n_words or 0) * tokens_per_word))


def length_bucket(n_tokens: int, bounds: Sequence[int] = (128, 256, 512)) -> str:
    """Bucket label such as ``"128-255"``; bounds are exclusive upper limits, the last is open."""
    lower = 0
    for upper in bounds:
        if n_tokens < upper:
            return f"{lower}-{upper - 1}"
        lower = upper
    return f"{lower}+"


def section_family(zone: str | None, section_path: Sequence[str] | None) -> str:
    """Coarse family of where the paragraph sits: abstract, introduction, methods, results, ..."""
    if zone in _ZONE_FAMILY:
        return _ZONE_FAMILY[zone]
    titles = [t for t in (section_path or []) if t]
    # The innermost title that names a family wins ("Results" > "Patient 2" inside it).
    for title in reversed(titles):
        for family, pattern in _FAMILY_PATTERNS:
            if pattern.search(title):
                return family
    return "body_other" if titles else "body_untitled"


def licence_group(license: str | None, commercial: bool | None = None) -> str:
    """commercial (CC BY, CC0, CC BY-SA, ...) / noncommercial (any NC) / other (no or unknown licence)."""
    lic = (license or "none").strip().upper()
    if lic in ("", "NONE", "UNKNOWN"):
        return "other"
    if "NC" in lic.replace("CC", "", 1).split("-") or "-NC" in lic or commercial is False:
        return "noncommercial"
    return "commercial" if lic.startswith("CC") or commercial else "other"


def article_type_group(article_type: str | None, known: Iterable[str]) -> str:
    value = (article_type or "").strip().lower()
    if not value:
        return "unknown"
    return value if value in set(known) else "other"


def language_group(language: str | None) -> str:
    return (language or "und").strip().lower() or "und"


def stratum_key(values: Mapping[str, str]) -> str:
    return "|".join(str(values[c]) for c in STRATUM_COLUMNS)


def order_key(seed: int, paragraph_id: str) -> str:
    """The within-stratum order: sha1 of "seed:paragraph_id" (hex). Spark computes the same with
    ``sha1(concat(lit(f"{seed}:"), paragraph_id))``."""
    return hashlib.sha1(f"{seed}:{paragraph_id}".encode()).hexdigest()


def _largest_remainder(weights: Mapping[str, float], total: int, caps: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` integer units in proportion to ``weights`` without exceeding ``caps``."""
    alloc = {k: 0 for k in weights}
    remaining = total
    active = {k for k, w in weights.items() if w > 0 and caps[k] > 0}
    while remaining > 0 and active:
        wsum = sum(weights[k] for k in active)
        shares = {k: remaining * weights[k] / wsum for k in active}
        given = 0
        for k in active:
            take = min(int(shares[k]), caps[k] - alloc[k])
            alloc[k] += take
            given += take
        left = remaining - given
        # Hand out the leftover units by largest fractional part (ties: key order, deterministic).
        for k in sorted(active, key=lambda k: (-(shares[k] - int(shares[k])), k)):
            if left <= 0:
                break
            if alloc[k] < caps[k]:
                alloc[k] += 1
                left -= 1
        remaining = left
        active = {k for k in active if alloc[k] < caps[k]}
    return alloc


def allocate(populations: Mapping[str, int], size: int, floor: int) -> dict[str, int]:
    """Rows to draw from each stratum: proportional to population, at least min(floor, population).

    Strata whose proportional share falls under the floor are fixed at the floor; the rest share
    what is left in proportion. If the floors alone exceed ``size``, the sample is spread as evenly
    as possible across strata (rarest first keep everything they have), which favours rare strata.
    """
    pops = {k: int(v) for k, v in populations.items() if v > 0}
    total_pop = sum(pops.values())
    size = max(0, min(int(size), total_pop))
    if size == 0:
        return {k: 0 for k in populations}
    floors = {k: min(floor, p) for k, p in pops.items()}
    if sum(floors.values()) >= size:
        return {**{k: 0 for k in populations}, **_even_fill(pops, size)}
    fixed: dict[str, int] = {}
    while True:
        rest = {k: p for k, p in pops.items() if k not in fixed}
        budget = size - sum(fixed.values())
        rest_pop = sum(rest.values())
        newly = {k for k, p in rest.items() if budget * p / rest_pop < floors[k]}
        if not newly:
            break
        for k in newly:
            fixed[k] = floors[k]
    budget = size - sum(fixed.values())
    rest = {k: p for k, p in pops.items() if k not in fixed}
    alloc = _largest_remainder({k: float(p) for k, p in rest.items()}, budget, rest)
    alloc.update(fixed)
    return {**{k: 0 for k in populations}, **alloc}


def _even_fill(pops: Mapping[str, int], size: int) -> dict[str, int]:
    """Water-filling: the same count from every stratum, capped by its population."""
    alloc = {k: 0 for k in pops}
    remaining = size
    keys = sorted(pops, key=lambda k: (pops[k], k))
    while remaining > 0:
        open_keys = [k for k in keys if alloc[k] < pops[k]]
        if not open_keys:
            break
        per = max(1, remaining // len(open_keys))
        for k in open_keys:
            take = min(per, pops[k] - alloc[k], remaining)
            alloc[k] += take
            remaining -= take
            if remaining == 0:
                break
    return alloc


def target_size(eligible: int, size: int | None, fraction: float | None) -> int:
    if (size is None) == (fraction is None):
        raise ValueError("give exactly one of size or fraction")
    if size is not None:
        if size < 0:
            raise ValueError("size must be >= 0")
        return min(size, eligible)
    return min(eligible, int(round(eligible * float(fraction))))


def select(rows: Iterable[Mapping], allocation: Mapping[str, int], seed: int) -> list[Mapping]:
    """Reference (in-memory) selection: the first ``allocation[stratum]`` rows of each stratum by
    ``order_key``. ``rows`` need ``paragraph_id`` and ``stratum``. Used by tests and small runs; the
    Spark job does the same with a window over ``sha1``."""
    by_stratum: dict[str, list[tuple[str, Mapping]]] = {}
    for row in rows:
        by_stratum.setdefault(row["stratum"], []).append((order_key(seed, row["paragraph_id"]), row))
    out: list[Mapping] = []
    for stratum, items in by_stratum.items():
        items.sort(key=lambda kv: kv[0])
        out.extend(r for _, r in items[: allocation.get(stratum, 0)])
    return out
