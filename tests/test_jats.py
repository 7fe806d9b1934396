"""The JATS parser on real articles from the bundled sample (and ../shared/data when present).

Every expected value below was read off the real XML file named in the test."""

from __future__ import annotations

import csv
import re
import tarfile
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree

from pipeline.jats import ARTICLE_KEYS, PARAGRAPH_KEYS, parse_document
from pipeline.license import is_commercial, normalize_license
from schemas.ingest import ARTICLES, PARAGRAPHS

DATA = Path(__file__).resolve().parent / "data"
BULK = DATA / "pmc-oa-bulk"
OTHER = DATA / "jats-other"
COMM = BULK / "oa_comm/xml/oa_comm_xml.PMC000xxxxxx.baseline.2026-06-01.tar.gz"
NONCOMM = BULK / "oa_noncomm/xml/oa_noncomm_xml.PMC000xxxxxx.baseline.2026-06-01.tar.gz"
OTHER_PKG = BULK / "oa_other/xml/oa_other_xml.PMC000xxxxxx.baseline.2026-06-01.tar.gz"


@lru_cache(maxsize=None)
def member(tgz: Path, name: str) -> bytes:
    with tarfile.open(tgz) as tf:
        return tf.extractfile(name).read()


@lru_cache(maxsize=None)
def parsed_member(tgz: Path, name: str):
    (article,) = parse_document(member(tgz, name), f"{tgz.name}::{name}")
    return article


def bulk_members():
    for tgz in sorted(BULK.glob("*/xml/*.tar.gz")):
        rows = {r["Article File"]: r for r in csv.DictReader(tgz.with_name(tgz.name.replace(".tar.gz", ".filelist.csv")).open())}
        with tarfile.open(tgz) as tf:
            for info in tf:
                if info.isfile():
                    yield tgz, info.name, tf.extractfile(info).read(), rows[info.name]


def by_path(article, xml_path):
    (para,) = [p for p in article.paragraphs if p["xml_path"] == xml_path]
    return para


# ---------------------------------------------------------------------------------------------
# A known PMC article, end to end
# ---------------------------------------------------------------------------------------------
def test_known_article_metadata():
    a = parsed_member(COMM, "PMC002xxxxxx/PMC2231364.xml")
    row = a.article
    assert set(row) == set(ARTICLES.names) == set(ARTICLE_KEYS)
    assert row["article_id"] == "PMC2231364"
    assert row["pmid"] == "17963531"
    assert row["doi"] == "10.1186/1471-2180-7-96"
    assert row["title"] == (
        "Comparative transcriptomics in Yersinia pestis: a global view of environmental modulation of gene expression"
    )
    assert row["journal"] == "BMC Microbiology"
    assert row["year"] == 2007
    assert row["article_type"] == "research-article"
    assert row["license"] == "CC BY"
    assert row["license_url"] == "http://creativecommons.org/licenses/by/2.0"
    assert row["commercial"] is True
    assert row["retracted"] is False
    assert row["language"] == "en"
    assert row["source"] == f"{COMM.name}::PMC002xxxxxx/PMC2231364.xml"
    assert row["last_updated"] is None
    assert row["n_paragraphs"] == len(a.paragraphs) == 50


def test_known_article_paragraphs():
    a = parsed_member(COMM, "PMC002xxxxxx/PMC2231364.xml")
    assert Counter(p["zone"] for p in a.paragraphs) == {"abstract": 3, "body": 37, "caption": 9, "back": 1}
    for i, p in enumerate(a.paragraphs):
        assert set(p) == set(PARAGRAPHS.names) == set(PARAGRAPH_KEYS)
        assert p["ordinal"] == i
        assert p["paragraph_id"] == f"PMC2231364:{i:05d}"
        assert p["article_id"] == "PMC2231364"
        assert p["n_words"] == len(p["text"].split())
        assert p["text"] == " ".join(p["text"].split())  # whitespace normalised
    # reading order: abstract first, then body, back last
    assert [p["zone"] for p in a.paragraphs[:3]] == ["abstract"] * 3
    assert a.paragraphs[-1]["zone"] == "back"
    first = a.paragraphs[0]
    assert first["xml_path"] == "front/article-meta/abstract[0]/sec[0]/p[0]"
    assert first["section_path"] == ["Background"]
    nested = by_path(a, "body/sec[1]/sec[0]/p[0]")
    assert nested["section_path"] == ["Results and Discussion", "Virulence genes in response to multiple environmental stresses"]
    assert nested["text"].startswith("In this work, 25 expression profiles of Y. pestis were collected")
    ack = by_path(a, "back/ack[0]/sec[0]/p[0]")
    assert ack["text"].startswith("We thank Dr. Chen Chen")
    # the paragraph <p>s/1 of body/sec[3]/sec[1] holds only a display formula: no empty paragraph
    assert [p["xml_path"] for p in a.paragraphs if p["xml_path"].startswith("body/sec[3]/sec[1]/")] == [
        "body/sec[3]/sec[1]/p[0]",
        "body/sec[3]/sec[1]/p[2]",
    ]


def test_inline_markup_keeps_its_spaces():
    # source: <italic>Yersinia pestis </italic>is the etiological agent … mammals [<xref …>1</xref>].
    #         … infection, <italic>Y. pestis </italic>colonizes the flea midgut …
    a = parsed_member(COMM, "PMC002xxxxxx/PMC2231364.xml")
    text = by_path(a, "body/sec[0]/p[0]")["text"]
    assert text.startswith("Yersinia pestis is the etiological agent of plague, alternatively growing in fleas or warm-blood mammals [1].")
    assert "To produce a transmissible infection, Y. pestis colonizes the flea midgut" in text
    assert "pestisis" not in text and "pestiscolonizes" not in text


def test_display_formula_is_a_word_boundary():
    # PMC11724057: "…PDI is calculated as follows:<disp-formula>…</disp-formula>Where τ denotes…"
    name = "PMC011xxxxxx/PMC11724057.xml"
    assert b"calculated as follows:" in member(NONCOMM, name)
    text = " ".join(p["text"] for p in parsed_member(NONCOMM, name).paragraphs)
    assert "PDI is calculated as follows: Where" in text
    assert "follows:Where" not in text


def test_nested_paragraphs_counted_once():
    # PMC2775662 body/sec[1]/sec[1]/p[1] holds a <list> whose three <list-item>s each hold a <p>
    raw = member(COMM, "PMC002xxxxxx/PMC2775662.xml")
    root = etree.fromstring(raw)
    outer = root.find("body/sec[2]/sec[2]/p[2]")  # ElementPath is 1-based, our xml_path 0-based
    inner = [" ".join("".join(p.itertext()).split()) for p in outer.iter("p") if p is not outer]
    assert len(inner) == 3
    a = parsed_member(COMM, "PMC002xxxxxx/PMC2775662.xml")
    assert not any("list-item" in p["xml_path"] for p in a.paragraphs)
    holder = by_path(a, "body/sec[1]/sec[1]/p[1]")
    alltext = "\n".join(p["text"] for p in a.paragraphs)
    for text in inner:
        assert holder["text"].count(text) == 1
        assert alltext.count(text) == 1
    # list items are separated, never fused
    assert inner[0] + inner[1] not in holder["text"]


def test_table_text_does_not_leak_and_caption_is_its_own_paragraph():
    # PMC3324826 body/sec[1]/sec[0]/p[0] contains a <table-wrap> (inside the <p>)
    a = parsed_member(COMM, "PMC003xxxxxx/PMC3324826.xml")
    cell = "10:90,964,568-90,997,385"  # a <td> of that table
    assert cell in member(COMM, "PMC003xxxxxx/PMC3324826.xml").decode()
    assert not any(cell in p["text"] for p in a.paragraphs)
    caption = by_path(a, "body/sec[1]/sec[0]/p[0]/table-wrap[0]/caption")
    assert caption["zone"] == "caption"
    assert caption["text"].startswith(
        "Vertebrate lipase A (LIPA) and cholesterol 25-hydroxylase (CH24H) genes and enzymes examined"
    )
    holder = by_path(a, "body/sec[1]/sec[0]/p[0]")
    assert "Vertebrate lipase A (LIPA)" not in holder["text"]
    assert a.paragraphs.index(caption) == a.paragraphs.index(holder) + 1  # right after its paragraph


def test_every_bulk_member_matches_its_filelist():
    """172 real articles: id, PMID and licence group agree with PMC's filelist.

    The only licence disagreements allowed: BMC/Springer articles that are CC BY with a CC0 waiver
    for their *data* (filelist CC0, article text CC BY), and a public-domain-mark article (EHP) that
    the filelist calls CC BY and we call CC0 — commercial in every case."""
    seen = 0
    for tgz, name, data, row in bulk_members():
        (a,) = parse_document(data, f"{tgz.name}::{name}", detect_language=False)
        art = a.article
        seen += 1
        assert art["article_id"] == row["AccessionID"], name
        assert (art["pmid"] or "") == row["PMID"], name
        assert art["retracted"] is (row["Retracted"] == "yes"), name
        expected = normalize_license(row["License"])
        assert art["commercial"] is is_commercial(expected), name
        if art["license"] != expected:
            if expected == "CC0":  # CC BY text + CC0 waiver for the data
                assert art["license"] == "CC BY" and b"publicdomain/zero" in data, name
            else:  # a public-domain mark, which PMC files as commercial
                assert (art["license"], expected) == ("CC0", "CC BY") and b"publicdomain/mark" in data, name
        assert art["n_paragraphs"] == len(a.paragraphs) > 0 or name.endswith("PMC10000000.xml"), name
    assert seen == 172


def test_noncommercial_and_other_groups():
    a = parsed_member(NONCOMM, "PMC004xxxxxx/PMC4059924.xml")
    assert a.article["title"] == "Evidence of natural Wolbachia infections in field populations of Anopheles gambiae"
    assert a.article["license"] == "CC BY-NC-ND"
    assert a.article["commercial"] is False
    with tarfile.open(OTHER_PKG) as tf:
        names = [i.name for i in tf if i.isfile()]
    for name in names:
        art = parsed_member(OTHER_PKG, name).article
        assert art["license"] == "none" and art["commercial"] is False, name


# ---------------------------------------------------------------------------------------------
# Other JATS flavours
# ---------------------------------------------------------------------------------------------
def test_scielo_translation_sub_article_has_its_own_language():
    path = OTHER / "scielo/0034-8910-rsp-48-2-0225.xml"
    (a,) = parse_document(path.read_bytes(), str(path))
    art = a.article
    assert art["article_id"] == "doi:10.1590/s0034-8910.2014048004798"
    assert art["title"] == "Impacto do estresse na saúde de cortadores de cana"
    assert art["language"] == "pt"
    assert art["license"] == "CC BY-NC" and art["commercial"] is False
    zones = Counter(p["zone"] for p in a.paragraphs)
    assert zones["sub-article"] >= 30 and zones["body"] >= 25
    sub = [p for p in a.paragraphs if p["zone"] == "sub-article"]
    body = [p for p in a.paragraphs if p["zone"] == "body"]
    assert all(p["xml_path"].startswith("sub-article[0]/") for p in sub)
    # the English translation is identified as English, the Portuguese body as Portuguese
    assert Counter(p["language"] for p in sub).most_common(1)[0][0] == "en"
    assert all(p["language"] == "pt" for p in body if p["n_words"] >= 20)
    # never merged: no body paragraph contains English translation text and vice versa
    assert sub[0]["ordinal"] > max(p["ordinal"] for p in body)
    assert all(p["ordinal"] < sub[0]["ordinal"] for p in a.paragraphs if not p["xml_path"].startswith("sub-article"))


def test_scielo_trans_abstract():
    path = OTHER / "scielo/0034-8910-rsp-48-2-0206.xml"
    (a,) = parse_document(path.read_bytes(), str(path))
    assert a.article["language"] == "en"
    trans = [p for p in a.paragraphs if p["zone"] == "trans-abstract"]
    assert [p["section_path"] for p in trans] == [["OBJETIVO"], ["MÉTODOS"], ["RESULTADOS"], ["CONCLUSÕES"]]
    assert trans[0]["xml_path"] == "front/article-meta/trans-abstract[0]/sec[0]/p[0]"
    assert trans[0]["text"].startswith("Avaliar o nível de conhecimento de HIV/Aids entre homens que fazem sexo com homens")
    assert {p["language"] for p in trans} == {"pt"}
    assert {p["language"] for p in a.paragraphs if p["zone"] == "abstract"} == {"en"}
    # footnote markers are not section titles
    assert all(p["section_path"] == [] for p in a.paragraphs if "/fn[" in p["xml_path"])


def test_europepmc_bundle_gives_ten_articles():
    path = OTHER / "europepmc-bundles/PMC6358576_PMC6358589.xml"
    arts = parse_document(path.read_bytes(), str(path))
    assert len(arts) == 10
    ids = [a.article["article_id"] for a in arts]
    assert ids == [
        "PMC6358576", "PMC6358577", "PMC6358578", "PMC6358579", "PMC6358580",
        "PMC6358581", "PMC6358585", "PMC6358587", "PMC6358588", "PMC6358589",
    ]
    assert sum(a.article["article_type"] == "case-report" for a in arts) == 6
    assert arts[0].article["title"] == "Endoscopic versus Surgical Intervention for Jejunal Bezoar Formation"
    assert arts[0].article["license"] == "CC BY-NC-ND"
    assert all(a.article["source"] == str(path) for a in arts)
    assert all(p["article_id"] == a.article["article_id"] for a in arts for p in a.paragraphs)


def test_oai_pmh_record_with_default_namespace():
    path = OTHER / "pmc-oai/PMC10200000.xml"
    (a,) = parse_document(path.read_bytes(), str(path))
    art = a.article
    assert art["article_id"] == "PMC10200000"
    assert art["pmid"] == "37209189"
    assert art["license"] == "CC BY"
    assert art["year"] == 2023
    assert art["title"].startswith("Engineering Multi-field-coupled Synergistic Ion Tr")
    assert Counter(p["zone"] for p in a.paragraphs) == {"abstract": 4, "body": 21, "caption": 5, "back": 3}
    assert all(not p["xml_path"].startswith("{") for p in a.paragraphs)


def test_elife_decision_letter_and_boxed_text():
    path = OTHER / "elife/elife00005.xml"
    (a,) = parse_document(path.read_bytes(), str(path))
    assert a.article["article_id"] == "doi:10.7554/elife.00005"
    sub = [p for p in a.paragraphs if p["zone"] == "sub-article"]
    assert sub[0]["section_path"] == ["Decision letter"]
    assert sub[0]["xml_path"].startswith("sub-article[0]/body/")
    assert any(p["section_path"][:1] == ["Author response"] for p in sub)
    # a boxed text inside the decision letter stays in the sub-article zone
    assert by_path(a, "sub-article[0]/body/boxed-text[0]/p[0]")["zone"] == "sub-article"


def test_boxed_text_zone_and_title():
    path = OTHER / "elife/elife00351.xml"
    (a,) = parse_document(path.read_bytes(), str(path))
    boxed = [p for p in a.paragraphs if p["zone"] == "boxed-text"]
    assert len(boxed) == 5
    assert all("boxed-text[" in p["xml_path"] for p in boxed)


def test_pmc_doctype_without_space_still_parses():
    # a real PMC bulk member starts with `<!DOCTYPE article PUBLIC"-//NLM//…` (no space): libxml2
    # refuses it, we repair the (never loaded) DOCTYPE
    with tarfile.open(COMM) as tf:
        name = next(i.name for i in tf if i.name.endswith("PMC10853552.xml"))
    raw = member(COMM, name)
    assert raw.startswith(b'<!DOCTYPE article PUBLIC"')
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(raw)
    a = parsed_member(COMM, name)
    assert a.article["article_id"] == "PMC10853552"
    assert a.article["n_paragraphs"] > 10


def test_detect_language_off_uses_declared_language():
    path = OTHER / "scielo/0034-8910-rsp-48-2-0225.xml"
    (a,) = parse_document(path.read_bytes(), str(path), detect_language=False)
    assert all(p["language_score"] is None for p in a.paragraphs)
    assert {p["language"] for p in a.paragraphs if p["zone"] == "body"} == {"pt"}
    assert {p["language"] for p in a.paragraphs if p["zone"] == "sub-article"} == {"en"}


def test_no_fused_words_at_element_boundaries():
    """Across the bulk sample, no paragraph glues a word to the next at an element boundary that
    the source separates (lowercase→Capital joins only appear where the source text itself has them)."""
    glued = re.compile(r"\b[a-z]{3,}[.:;!?][A-Z][a-z]{2,}\b")
    for tgz, name, data, _ in bulk_members():
        (a,) = parse_document(data, name, detect_language=False)
        plain = " ".join(etree.fromstring(data.replace(b'PUBLIC"', b'PUBLIC "')).itertext())
        for p in a.paragraphs:
            for m in glued.finditer(p["text"]):
                assert m.group(0) in plain, (name, p["xml_path"], m.group(0))


def test_shared_corpus_parses(shared_data):
    """Every real file of the full shared corpus parses (or, for none, fails with a reason)."""
    n_docs = n_articles = 0
    for path in sorted(shared_data.glob("jats-other/*/*.xml")):
        arts = parse_document(path.read_bytes(), str(path), detect_language=False)
        n_docs += 1
        n_articles += len(arts)
        for a in arts:
            assert a.article["n_paragraphs"] == len(a.paragraphs)
            assert len({p["paragraph_id"] for p in a.paragraphs}) == len(a.paragraphs)
    assert n_docs >= 150 and n_articles >= n_docs
