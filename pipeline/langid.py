"""Offline, batched paragraph language identification (provisional: py3langid)."""

from __future__ import annotations

MIN_CHARS = 20


def identify_batch(texts: list[str]) -> list[tuple[str | None, float | None]]:
    import py3langid

    out = []
    for t in texts:
        if len(t) < MIN_CHARS:
            out.append((None, None))
            continue
        lang, score = py3langid.classify(t)
        out.append((lang, float(score)))
    return out
