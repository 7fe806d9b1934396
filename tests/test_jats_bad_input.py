"""Bad input at parser level: every case raises JatsError with the right reason, fast, safely."""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path

import pytest

from pipeline.jats import JatsError, parse_document

DATA = Path(__file__).resolve().parent / "data"
COMM = DATA / "pmc-oa-bulk/oa_comm/xml/oa_comm_xml.PMC000xxxxxx.baseline.2026-06-01.tar.gz"


@pytest.fixture(scope="module")
def real_article() -> bytes:
    with tarfile.open(COMM) as tf:
        return tf.extractfile("PMC002xxxxxx/PMC2231364.xml").read()


def reason_of(data: bytes) -> JatsError:
    with pytest.raises(JatsError) as info:
        parse_document(data, "bad.xml")
    err = info.value
    assert err.message and len(err.message) <= 300
    return err


def test_truncated_real_article(real_article):
    for cut in (len(real_article) // 2, len(real_article) - 20, 300):
        assert reason_of(real_article[:cut]).reason == "malformed_xml"


def test_malformed_xml():
    err = reason_of(b"<article><front><article-meta></front></article>")
    assert err.reason == "malformed_xml"
    assert "mismatch" in err.message


def test_xxe_external_entity_is_refused_and_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-42")
    payload = (
        f'<?xml version="1.0"?>\n<!DOCTYPE article [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        "<article><body><p>leak: &xxe;</p></body></article>"
    ).encode()
    err = reason_of(payload)
    assert err.reason == "entity_declaration"
    assert "TOP-SECRET" not in str(err)
    # the classic /etc/passwd variant
    err = reason_of(
        b'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<article><body><p>&x;</p></body></article>"
    )
    assert err.reason == "entity_declaration"
    assert "root:" not in str(err)


def test_xxe_parameter_entity_and_network_are_refused():
    payload = (
        b'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>'
        b"<article/>"
    )
    assert reason_of(payload).reason == "entity_declaration"


def test_billion_laughs_is_refused_fast():
    lol = [b'<!ENTITY lol "lol">']
    for i in range(1, 10):
        prev = b"lol" if i == 1 else b"lol%d" % (i - 1)
        lol.append(b'<!ENTITY lol%d "%s">' % (i, b"&" + prev + b";" * 1 + (b"&" + prev + b";") * 9))
    payload = b'<?xml version="1.0"?><!DOCTYPE lolz [' + b"".join(lol) + b"]><article><p>&lol9;</p></article>"
    t0 = time.perf_counter()
    err = reason_of(payload)
    assert err.reason == "entity_declaration"
    assert time.perf_counter() - t0 < 1.0


def test_entity_declaration_deep_in_a_long_prolog_is_refused():
    # comments before the DOCTYPE push the subset past any fixed-size prefix check
    payload = (
        b'<?xml version="1.0"?>' + b"<!-- " + b"x" * 70000 + b" -->"
        b'<!DOCTYPE article [<!ENTITY x SYSTEM "file:///etc/passwd">]><article><p>&x;</p></article>'
    )
    err = reason_of(payload)
    assert err.reason == "entity_declaration"


def test_empty_documents():
    for data in (b"", b"   \n\t  "):
        assert reason_of(data).reason == "empty"


def test_non_jats_xml():
    err = reason_of(b'<?xml version="1.0"?><html><body><p>hello</p></body></html>')
    assert err.reason == "not_jats"
    assert "<html>" in err.message
    assert reason_of(b'<rss version="2.0"><channel/></rss>').reason == "not_jats"


def test_article_set_without_articles():
    assert reason_of(b"<articles></articles>").reason == "no_articles"


def test_binary_junk():
    rng = os.urandom(4096)
    assert reason_of(rng).reason == "binary"
    assert reason_of(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).reason == "binary"


def test_gzip_data_is_binary(real_article):
    import gzip

    err = reason_of(gzip.compress(real_article))
    assert err.reason == "binary"
    assert "gzip" in err.message


def test_wrong_encoding_declaration_utf8_declared_latin1_bytes():
    data = '<?xml version="1.0" encoding="UTF-8"?><article><body><p>Saúde pública</p></body></article>'.encode("latin-1")
    assert reason_of(data).reason == "encoding"


def test_wrong_encoding_declaration_latin1_declared_utf8_bytes():
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><article><body><p>Saúde pública</p></body></article>'.encode()
    err = reason_of(data)
    assert err.reason == "encoding"
    assert "ISO-8859-1" in err.message


def test_unknown_encoding_declaration():
    data = b'<?xml version="1.0" encoding="klingon-8"?><article/>'
    assert reason_of(data).reason == "encoding"


def test_correct_latin1_declaration_parses():
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><article><body><p>Saúde pública</p></body></article>'.encode("latin-1")
    (a,) = parse_document(data, "latin1.xml", detect_language=False)
    assert a.paragraphs[0]["text"] == "Saúde pública"


def test_reference_list_cut_never_hides_a_broken_document(real_article):
    # the fast path cuts the last <ref-list> out of the bytes before parsing; a broken boundary
    # makes the cut unbalanced, so the untouched bytes are parsed and the error reported
    assert reason_of(real_article.replace(b"</ref-list>", b"</ref-lst>", 1)).reason == "malformed_xml"
    assert reason_of(real_article.replace(b"<ref-list>", b"<ref-lst>", 1)).reason == "malformed_xml"
    broken_body = real_article.replace(b"</italic>", b"</itallic>", 1)
    assert reason_of(broken_body).reason == "malformed_xml"


def test_damage_confined_to_references_is_tolerated(real_article):
    # documented trade-off: references are never extracted and never parsed, so a tag error
    # *inside* a reference does not sink an otherwise good article
    damaged = real_article.replace(b"</citation>", b"</citatio>", 1)
    (a,) = parse_document(damaged, "refs-damaged.xml", detect_language=False)
    assert a.article["n_paragraphs"] == 50


def test_public_doctype_without_subset_parses(real_article):
    assert b"<!DOCTYPE article PUBLIC" in real_article[:200]
    (a,) = parse_document(real_article, "ok.xml", detect_language=False)
    assert a.article["article_id"] == "PMC2231364"


def test_one_broken_article_in_a_bundle_keeps_the_others(real_article, monkeypatch):
    body = real_article.split(b"?>", 1)[-1] if real_article.startswith(b"<?xml") else real_article
    body = body[body.index(b"<article") :]
    bundle = b"<articles>" + body + b"<article><front><article-meta><article-id pub-id-type=\"pmc\">12</article-id></article-meta></front></article></articles>"
    import pipeline.jats as jats

    real_build = jats._build

    def flaky(article, ident, source, index, *rest):
        if index == 1:
            raise RuntimeError("boom")
        return real_build(article, ident, source, index, *rest)

    monkeypatch.setattr(jats, "_build", flaky)
    errors: list = []
    arts = parse_document(bundle, "bundle.xml", detect_language=False, errors=errors)
    assert [a.article["article_id"] for a in arts] == ["PMC2231364"]
    assert len(errors) == 1 and errors[0].reason == "article_failed" and "boom" in errors[0].message


def test_random_damage_never_crashes(real_article):
    """Truncations, byte flips, deleted spans, broken cut boundaries of a real article: always
    either articles or a JatsError — never another exception (deterministic seed)."""
    import random

    rng = random.Random(7)
    reasons = set()
    for _ in range(150):
        data = real_article
        op = rng.randrange(4)
        if op == 0:
            data = data[: rng.randrange(len(data))]
        elif op == 1:
            buf = bytearray(data)
            for _ in range(5):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            data = bytes(buf)
        elif op == 2:
            i = rng.randrange(len(data))
            data = data[:i] + data[i + rng.randrange(2000) :]
        else:
            for tag in (b"</ref-list>", b"<ref-list", b"<table", b"</table>"):
                if rng.random() < 0.5:
                    data = data.replace(tag, tag[:-1], 1)
        try:
            parse_document(data, "fuzz.xml", detect_language=False)
            reasons.add("ok")
        except JatsError as err:
            reasons.add(err.reason)
    assert "malformed_xml" in reasons and "ok" in reasons
