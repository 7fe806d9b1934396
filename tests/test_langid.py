"""Offline batched language identification on real paragraphs."""

from __future__ import annotations

import socket
from pathlib import Path

from pipeline.jats import parse_document
from pipeline.langid import MIN_CHARS, identify, identify_batch, model_path

SCIELO = Path(__file__).resolve().parent / "data" / "jats-other" / "scielo"


def test_model_ships_with_the_package_and_loads_offline(monkeypatch):
    path = Path(model_path())
    assert path.name == "lid.176.ftz" and path.stat().st_size < 2_000_000

    def no_network(*args, **kwargs):
        raise AssertionError("language id tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    import pipeline.langid as langid

    monkeypatch.setattr(langid, "_model", None)  # force a fresh load under the guard
    assert identify("Os resultados mostraram associação entre estresse e saúde dos trabalhadores.")[0] == "pt"


def test_real_scielo_paragraphs_by_declared_language():
    """SciELO articles: Portuguese bodies, English translations — ≥ 95 % agreement on long text."""
    texts, gold = [], []
    for path in sorted(SCIELO.glob("0034-8910-rsp-48-2-*.xml")):
        for art in parse_document(path.read_bytes(), str(path), detect_language=False):
            for p in art.paragraphs:
                if p["language"] in ("en", "pt") and p["n_words"] >= 25:
                    texts.append(p["text"])
                    gold.append(p["language"])
    assert len(texts) > 300 and {"en", "pt"} <= set(gold)
    predicted = identify_batch(texts)
    agree = sum(lang == g for (lang, _), g in zip(predicted, gold)) / len(gold)
    assert agree >= 0.95
    assert all(0.0 <= score <= 1.0 for _, score in predicted)


def test_spanish_english_portuguese_sentences():
    out = identify_batch([
        "The patients were randomised to two groups and followed for ten years.",
        "Os pacientes foram randomizados em dois grupos e acompanhados por dez anos.",
        "Los pacientes fueron asignados al azar a dos grupos y seguidos durante diez años.",
    ])
    assert [lang for lang, _ in out] == ["en", "pt", "es"]


def test_short_texts_get_no_language():
    out = identify_batch(["Results", "n = 12 (34%)", "x" * (MIN_CHARS - 1), "12345 67890 12345 67890 1"])
    assert out == [(None, None)] * 4
    assert identify_batch([]) == []
