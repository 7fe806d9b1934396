"""Recipes and the pure row logic (no Spark): validation errors, filters, upsampling, formatting."""

from __future__ import annotations

import pytest

from pipeline.emit import RecipeError, build_rows, load_recipe, parse_recipe
from pipeline.emit.formatting import render_prefix
from pipeline.emit.recipe import BUNDLED_RECIPES, DEFAULT_PREFIX
from pipeline.emit.tokens import get_counter

BUNDLED = ["BE-Base", "BE-Educational", "BE-Clinical", "BE-ClinicalCase", "BE-French", "BE-All"]

ARTICLE = dict(article_id="PMC9", title="T", journal="J", year=2021, license="CC BY", commercial=True,
               retracted=False, language="en")


def para(ordinal, dt="study", dom="biomedical", score=3.0, lang="en", section="Results"):
    return dict(paragraph_id=f"PMC9:{ordinal:05d}", ordinal=ordinal, zone="body", section_path=["Main", section],
                text=f"text {ordinal}", n_words=2, language=lang, document_type=dt, domain=dom,
                educational_score=score)


def test_bundled_recipes_load_and_match_the_issue():
    assert sorted(p.stem for p in BUNDLED_RECIPES.glob("*.yaml")) == sorted(BUNDLED)
    recipes = {n: load_recipe(n) for n in BUNDLED}
    assert recipes["BE-Base"].filter.min_educational_score is None and not recipes["BE-Base"].upsample.rules
    assert recipes["BE-Educational"].filter.min_educational_score == 3
    assert [r.factor for r in recipes["BE-All"].upsample.rules] == [10, 10, 10]
    assert recipes["BE-All"].format.prefix and recipes["BE-All"].filter.min_educational_score == 3
    assert recipes["BE-French"].upsample.rules[0].when.values == ["fr"]
    assert recipes["BE-French"].upsample.rules[0].when.field == "languages"  # the article's, not a paragraph's
    assert all(r.upsample.mode == "copies" for r in recipes.values())  # the paper's form by default
    assert all(r.formats == ["parquet"] and r.contamination is None for r in recipes.values())
    assert not recipes["BE-Base"].needs_annotations and recipes["BE-Clinical"].needs_annotations


@pytest.mark.parametrize("data, fragment", [
    ({"name": "x", "filtr": {}}, "filtr"),
    ({"name": "x", "filter": {"document_types": ["case"]}}, "unknown document_type value(s) ['case']"),
    ({"name": "x", "upsample": {"rules": [{"name": "a", "factor": 0,
                                           "when": {"field": "domain", "values": "clinical"}}]}}, "factor"),
    ({"name": "x", "upsample": {"rules": [{"name": "a", "factor": 2,
                                           "when": {"field": "journal", "values": "x"}}]}}, "upsample.rules.0.when.field"),
    ({"name": "x", "format": {"prefix": "{score}"}}, "unknown field(s) ['score']"),
    ({"name": "x", "format": {"unit": "sentence"}}, "format.unit"),
    ({"name": "bad name"}, "name"),
    ({"name": "x", "filter": {"languages": ["french"]}}, "ISO 639-1"),
])
def test_invalid_recipes_fail_with_a_located_message(data, fragment):
    with pytest.raises(RecipeError) as err:
        parse_recipe(data, "my.yaml")
    assert "my.yaml" in str(err.value) and fragment in str(err.value)


def test_unknown_recipe_name_lists_the_known_ones(tmp_path):
    with pytest.raises(RecipeError, match="BE-Base"):
        load_recipe("BE-Nope")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(str(tmp_path / "bad.yaml"))


def test_user_recipe_file_and_recipe_dirs(tmp_path):
    (tmp_path / "Mine.yaml").write_text("name: Mine\nfilter: {domains: clinical}\nformat: {unit: paragraph}\n")
    assert load_recipe("Mine", [tmp_path]).filter.domains == ["clinical"]
    assert load_recipe(str(tmp_path / "Mine.yaml")).format.unit == "paragraph"


def test_filter_keeps_reading_order_and_drops_low_scores():
    recipe = load_recipe("BE-Educational")
    paragraphs = [para(2, score=4.0), para(0, score=5.0), para(1, score=2.0), para(3, score=None)]
    [row] = build_rows(ARTICLE, paragraphs, recipe)
    assert row["text"] == "text 0\n\ntext 2"  # ordinal order; score 2 and unannotated dropped
    assert row["n_paragraphs"] == 2 and row["educational_score"] == 4.5
    assert row["split"] == "commercial" and row["upsample_factor"] == 1


def test_article_dropped_when_nothing_survives_or_retracted():
    assert build_rows(ARTICLE, [para(0, score=1.0)], load_recipe("BE-Educational")) == []
    assert build_rows({**ARTICLE, "retracted": True}, [para(0)], load_recipe("BE-Base")) == []


def test_upsampling_conditions_and_combination():
    clinical = load_recipe("BE-Clinical")
    half = [para(0, dom="clinical"), para(1, dom="biomedical")]
    third = [para(0, dom="clinical"), para(1), para(2)]
    assert build_rows(ARTICLE, half, clinical)[0]["upsample_factor"] == 10  # 1/2 >= min_fraction 0.5
    assert build_rows(ARTICLE, third, clinical)[0]["upsample_factor"] == 1
    case = load_recipe("BE-ClinicalCase")
    assert build_rows(ARTICLE, [para(0), para(1, dt="clinical_case")], case)[0]["upsample_rules"] == ["clinical_case"]
    french = load_recipe("BE-French")
    french_article = {**ARTICLE, "languages": ["en", "fr"]}  # e.g. a French trans-abstract
    assert build_rows(french_article, [para(0)], french)[0]["upsample_factor"] == 10
    # A paragraph tagged fr (a caption, an identifier) never makes an English article French.
    assert build_rows({**ARTICLE, "languages": ["en"]}, [para(0, lang="fr")], french)[0]["upsample_factor"] == 1
    assert build_rows(ARTICLE, [para(0, lang="fr")], french)[0]["upsample_factor"] == 1  # no languages: none
    both = [para(0, dt="clinical_case", dom="clinical", lang="fr")]
    all_row = build_rows(french_article, both, load_recipe("BE-All"))[0]
    assert all_row["upsample_factor"] == 10 and all_row["upsample_rules"] == ["clinical", "clinical_case", "french"]
    product = parse_recipe({"name": "P", "upsample": {"combine": "product", "max_factor": 50, "rules": [
        {"name": "a", "factor": 4, "when": {"field": "domain", "values": ["clinical"]}},
        {"name": "b", "factor": 3, "when": {"field": "language", "values": ["fr"]}},
        {"name": "c", "factor": 5, "when": {"field": "document_type", "values": ["clinical_case"]}}]}})
    assert build_rows(ARTICLE, both, product)[0]["upsample_factor"] == 50  # 60 capped at max_factor


def test_paragraph_mode_section_titles_and_prefix():
    recipe = parse_recipe({"name": "P", "format": {"unit": "paragraph", "section_titles": True,
                                                   "prefix": "[{document_types}|{domains}|{educational_score}|{section}] "}})
    rows = build_rows(ARTICLE, [para(1, dt="review", score=4.0, section="Discussion"), para(0)], recipe)
    assert [r["id"] for r in rows] == ["PMC9:00000", "PMC9:00001"]
    assert rows[1]["text"] == "[review|biomedical|4.0|Discussion] Discussion\n\ntext 1"
    assert rows[1]["paragraph_id"] == "PMC9:00001" and rows[1]["document_types"] == ["review"]


def test_article_section_titles_only_when_section_changes():
    recipe = parse_recipe({"name": "S", "format": {"section_titles": True, "title": True}})
    rows = build_rows(ARTICLE, [para(0, section="A"), para(1, section="A"), para(2, section="B")], recipe)
    assert rows[0]["text"] == "T\n\nA\n\ntext 0\n\ntext 1\n\nB\n\ntext 2"


def test_default_prefix_documented_example():
    paragraphs = [para(0, dt="clinical_case", dom="clinical", score=4.0),
                  para(1, dt="clinical_case", dom="clinical", score=3.0), para(2, dt="study", dom="clinical", score=4.0)]
    assert render_prefix(DEFAULT_PREFIX, ARTICLE, paragraphs) == (
        "<|meta|> type: clinical_case, study | domain: clinical | educational: 3.7 | lang: en <|/meta|>\n")
    assert render_prefix("{journal}/{year}/{educational_score}", {"article_id": "X"}, [para(0, score=None)]) \
        == "unknown/unknown/unknown"


def test_offline_tokenizer_counts_and_is_named():
    counter = get_counter("auto")
    assert "MiniLM" in counter.name or "regex" in counter.name
    long_text = "word " * 1000  # longer than MiniLM's 128-token window: no truncation
    assert counter.count(["", long_text])[1] >= 1000
    assert get_counter("regex").count(["Le patient, 45 ans."]) == [6]


def test_token_counts_are_remembered_per_text(tmp_path, monkeypatch):
    """Recipes of one emit count the same article texts again: each text is tokenized once, and a
    remembered count is the count (a full cache starts over rather than growing)."""
    import pipeline.emit.tokens as tokens

    counter = tokens.HFTokenizer(tokens.minilm_path())
    texts = ["Le patient, 45 ans.", "A 45-year-old man presented with fever.", "Le patient, 45 ans."]
    fresh = [len(e.ids) for e in counter.tokenizer.encode_batch(texts, add_special_tokens=False)]
    encoded: list[str] = []
    original = counter.encode
    monkeypatch.setattr(counter, "encode", lambda batch: encoded.extend(batch) or original(batch))
    assert counter.count(texts) == fresh
    assert counter.count(list(reversed(texts))) == fresh[::-1]
    assert encoded == texts  # the second call tokenized nothing
    monkeypatch.setattr(tokens, "COUNT_CACHE_ENTRIES", 2)
    assert counter.count(["Another text entirely.", "And one more.", "A third."]) == [
        len(e.ids) for e in counter.tokenizer.encode_batch(["Another text entirely.", "And one more.", "A third."],
                                                           add_special_tokens=False)]
    assert len(counter._counts) == 3  # cleared before the batch, then filled with it
