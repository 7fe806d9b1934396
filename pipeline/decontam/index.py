"""The benchmark side: every n-gram hash of every item, and which items hold it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from pipeline.decontam.ngrams import ngram_hashes
from pipeline.decontam.readers import BenchmarkItem


@dataclass
class NgramIndex:
    n: int
    items: list[tuple[str, str]] = field(default_factory=list)  # item index → (benchmark, item_id)
    postings: dict[int, tuple[int, ...]] = field(default_factory=dict)  # n-gram hash → item indices
    ngrams_per_benchmark: dict[str, int] = field(default_factory=dict)  # distinct n-grams

    @property
    def n_ngrams(self) -> int:
        return len(self.postings)

    def rows(self) -> Iterator[tuple[int, int]]:
        """(hash, item index) pairs: the index as a table, for the join plan."""
        for h, posting in self.postings.items():
            for i in posting:
                yield h, i


def build_index(items: Iterable[BenchmarkItem], n: int) -> NgramIndex:
    """Index the n-grams of every text of every item. The same (benchmark, item id) twice is one item."""
    index = NgramIndex(n=n)
    where: dict[tuple[str, str], int] = {}
    postings: dict[int, set[int]] = defaultdict(set)
    per_benchmark: dict[str, set[int]] = defaultdict(set)
    for item in items:
        key = (item.benchmark, item.item_id)
        if key not in where:
            where[key] = len(index.items)
            index.items.append(key)
        k = where[key]
        for text in item.texts:
            for h in ngram_hashes(text, n):
                postings[h].add(k)
                per_benchmark[item.benchmark].add(h)
        per_benchmark.setdefault(item.benchmark, set())
    index.postings = {h: tuple(sorted(ks)) for h, ks in postings.items()}
    index.ngrams_per_benchmark = {b: len(hs) for b, hs in sorted(per_benchmark.items())}
    return index
