"""A tiny hand-made run directory with every sidecar the emit, catalog and report stages read
(articles, paragraphs, quarantine, dedup, dedup_articles, sample, labels, annotations, model card),
with values chosen so each recipe's outcome is known exactly. Imported by the emit/catalog/report/
notebook tests; it holds one test of its own (the tables match their declared schemas)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from pipeline.rundir import RunDir, write_json_atomic, write_parquet_atomic
from schemas.dedup import DEDUP, DEDUP_ARTICLES
from schemas.ingest import ARTICLES, PARAGRAPHS, QUARANTINE, SUPERSEDED

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)

# article_id: (license, commercial, retracted, language, journal)
ARTICLE_META = {
    "PMC1": ("CC BY", True, False, "en", "BMC Case Reports"),
    "PMC2": ("CC BY-NC", False, False, "en", "PLoS One"),
    "PMC3": ("CC BY", True, False, "fr", "Revue Médicale"),
    "PMC4": ("CC BY", True, True, "en", "PLoS One"),
    "PMC5": ("CC0", True, False, "en", "PLoS One"),
    "PMC6": ("CC BY-NC-ND", False, False, "en", "BMC Case Reports"),
    "PMC7": ("CC BY", True, False, "en", "BMC Case Reports"),  # a reprint of PMC1 (dedup_articles)
}

# paragraph rows: (article_id, ordinal, section, text language, document_type, domain, score, duplicate?)
PARAGRAPH_SPECS = [
    ("PMC1", 0, "Introduction", "en", "clinical_case", "clinical", 4.0, False),
    ("PMC1", 1, "Case presentation", "en", "clinical_case", "clinical", 3.0, False),
    ("PMC1", 2, "Discussion", "en", "study", "clinical", 2.0, False),
    ("PMC1", 3, "Discussion", "en", "other", "other", 1.0, True),
    ("PMC2", 0, "Methods", "en", "study", "biomedical", 2.0, False),
    ("PMC2", 1, "Results", "en", "study", "biomedical", 3.0, False),
    ("PMC2", 2, "Results", "en", "review", "biomedical", 5.0, False),
    ("PMC3", 0, "Introduction", "fr", "review", "biomedical", 3.0, False),
    ("PMC3", 1, "Conclusion", "fr", "review", "biomedical", 1.0, False),
    ("PMC4", 0, "Results", "en", "study", "biomedical", 4.0, False),
    ("PMC5", 0, "Results", "en", "study", "clinical", 5.0, True),
    ("PMC5", 1, "Results", "en", "clinical_case", "clinical", 5.0, True),
    ("PMC6", 0, "Case", "en", "clinical_case", "clinical", 4.0, False),
    ("PMC6", 1, "Background", "en", "other", "other", 2.0, False),
    ("PMC7", 0, "Introduction", "en", "clinical_case", "clinical", 4.0, True),
    ("PMC7", 1, "Case presentation", "en", "clinical_case", "clinical", 3.0, True),
    ("PMC7", 2, "Note", "en", "other", "other", 5.0, False),
]
FLAGGED_ARTICLES = {"PMC7"}
# An article's languages (ingest: declared xml:lang + confident running text); default [language].
ARTICLE_LANGUAGES: dict[str, list[str]] = {}


def paragraph_text(article_id: str, ordinal: int, language: str) -> str:
    if language == "fr":
        return f"Le patient de l'article {article_id} présente une fièvre persistante, paragraphe {ordinal}."
    return f"Paragraph {ordinal} of {article_id}: the patient presented with a persistent fever and cough."


def _publish(run: RunDir, name: str, table: pa.Table) -> None:
    tmp = run.tmp_path(name)
    tmp.mkdir(parents=True)
    write_parquet_atomic(table, tmp / "part-00000.parquet")
    run.publish(tmp, name, {"rows": table.num_rows})


def make_tiny_run(root: Path) -> RunDir:
    run = RunDir(root)
    n_par = {a: sum(1 for s in PARAGRAPH_SPECS if s[0] == a) for a in ARTICLE_META}
    articles = [
        dict(article_id=a, pmid=None, doi=f"10.1/{a.lower()}", title=f"Title of {a}", journal=j, year=2020,
             article_type="case-report" if j == "BMC Case Reports" else "research-article", license=lic,
             license_url=None, commercial=com, retracted=ret, language=lang, languages=ARTICLE_LANGUAGES.get(a, [lang]),
             source=f"oa_comm/{a}.xml",
             last_updated=T0, n_paragraphs=n_par[a])
        for a, (lic, com, ret, lang, j) in ARTICLE_META.items()
    ]
    _publish(run, "articles", pa.Table.from_pylist(articles, schema=ARTICLES))
    paragraphs, dedup, annotations = [], [], []
    for a, o, section, lang, dt, dom, score, dup in PARAGRAPH_SPECS:
        pid = f"{a}:{o:05d}"
        text = paragraph_text(a, o, lang)
        paragraphs.append(dict(paragraph_id=pid, article_id=a, ordinal=o, zone="body", section_path=[section],
                               xml_path=f"body/sec[{o}]/p[0]", text=text, n_words=len(text.split()),
                               language=lang, language_score=0.99))
        dedup.append(dict(paragraph_id=pid, article_id=a, exact_hash=f"h{a}{o}", n_shingles=12, near_eligible=True,
                          cluster_id=min(pid, "PMC2:00000") if dup else pid, cluster_size=2 if dup else 1,
                          is_duplicate=dup, kept_paragraph_id="PMC2:00000" if dup else pid,
                          match="exact" if dup else "unique", dedup_version="dedup-test"))
        probs = [0.7 if t == dt else 0.1 for t in ("clinical_case", "study", "review", "other")]
        annotations.append(dict(paragraph_id=pid, document_type=dt, document_type_scores=probs, domain=dom,
                                domain_scores=[0.8 if d == dom else 0.1 for d in ("clinical", "biomedical", "other")],
                                educational_score=score, classifier_version="fasttext-test-1"))
    _publish(run, "paragraphs", pa.Table.from_pylist(paragraphs, schema=PARAGRAPHS))
    _publish(run, "quarantine", pa.Table.from_pylist(
        [dict(source="oa_other/broken.xml", reason="malformed_xml", error="unclosed tag")], schema=QUARANTINE))
    _publish(run, "superseded", pa.Table.from_pylist([], schema=SUPERSEDED))
    _publish(run, "dedup", pa.Table.from_pylist(dedup, schema=DEDUP))
    _publish(run, "dedup_articles", pa.Table.from_pylist(
        [dict(article_id="PMC7", other_article_id="PMC1", n_paragraphs=3, n_shared=2, share=2 / 3,
              kept_share=1 / 3, dedup_version="dedup-test")], schema=DEDUP_ARTICLES))
    _publish(run, "annotations", pa.Table.from_pylist(annotations))
    sampled = [p for p in paragraphs if p["paragraph_id"] in ("PMC1:00000", "PMC2:00001", "PMC3:00000", "PMC6:00001")]
    _publish(run, "sample", pa.Table.from_pylist(
        [dict(paragraph_id=p["paragraph_id"], article_id=p["article_id"], text=p["text"], stratum="en/body")
         for p in sampled]))
    spec = {f"{s[0]}:{s[1]:05d}": s for s in PARAGRAPH_SPECS}
    labels = [dict(paragraph_id=p["paragraph_id"], text=p["text"], text_hash="x", document_type=spec[p["paragraph_id"]][4],
                   domain=spec[p["paragraph_id"]][5], educational_score=int(spec[p["paragraph_id"]][6]),
                   language=p["language"], labeller="import:reference-labels.jsonl", prompt_version="v1",
                   created_at=T0, status="ok", invalid_reason=None, raw_response=None) for p in sampled]
    labels.append(dict(paragraph_id="PMC6:00000", text="x", text_hash="y", document_type=None, domain=None,
                       educational_score=None, language=None, labeller="import:reference-labels.jsonl",
                       prompt_version="v1", created_at=T0, status="invalid", invalid_reason="bad_json",
                       raw_response="{oops"))
    _publish(run, "labels", pa.Table.from_pylist(labels))
    model = run.root / "model"
    model.mkdir(parents=True, exist_ok=True)
    write_json_atomic(model / "model_card.json", {  # the layout jobs/train.py writes
        "labeller": "import:reference-labels.jsonl", "prompt_version": "v1", "n_used": 4,
        "default_student": "fasttext",
        "students": {"fasttext": {"version": "fasttext-test-1", "kind": "fasttext", "metrics": {
            "document_type": {"macro_f1": 0.71, "accuracy": 0.8, "kappa": 0.6},
            "domain": {"macro_f1": 0.82, "accuracy": 0.9, "kappa": 0.7},
            "educational_score": {"mae": 0.61, "pearson": 0.58, "spearman": 0.55}}}}})
    (model / "_COMPLETE").write_text(json.dumps({"rows": 0}))
    write_json_atomic(run.report("ingest"), {"stage": "ingest", "documents": {"seen": 8, "parsed": 7, "quarantined": 1}})
    return run


def test_tiny_run_matches_ingest_schemas(tmp_path):
    import pyarrow.parquet as pq

    run = make_tiny_run(tmp_path / "run")
    assert pq.read_table(run.table("articles")).schema.equals(ARTICLES)
    assert pq.read_table(run.table("paragraphs")).num_rows == len(PARAGRAPH_SPECS)
    assert all(run.is_complete(t) for t in ("articles", "paragraphs", "dedup", "annotations", "labels"))


# --------------------------------------------------------------------------- emitted once per session

SHARED_RECIPES = ["BE-Base", "BE-ClinicalCase", "BE-All"]
PARAGRAPH_RECIPE = """\
name: Clinical-Paragraphs
description: clinical-domain paragraphs, one per row, French ones x3
filter: {domains: [clinical, biomedical], min_words: 3}
upsample:
  rules:
    - {name: french, factor: 3, when: {field: language, values: fr}}
format: {unit: paragraph, prefix: "[{document_types}] "}
"""
_SHARED: dict[str, RunDir] = {}


def small_shards_config(**emit):
    from pipeline.config import PipelineConfig

    # 1 KiB shards and row groups: the few KB of the tiny run spread over several shards.
    return PipelineConfig.model_validate({"emit": {"shard_bytes": 1024, "row_group_bytes": 1024, **emit}})


def emitted_tiny_run(spark) -> RunDir:
    """The tiny run with SHARED_RECIPES + the paragraph recipe emitted, built once per test session
    (the emit, catalog and report tests share it; treat it as read-only, copy it to change it)."""
    if "run" not in _SHARED:
        import atexit
        import shutil
        import tempfile

        from stagetools import config_for, figures

        base = Path(tempfile.mkdtemp(prefix="pmc-enrich-emit-"))
        atexit.register(shutil.rmtree, base, True)
        run = make_tiny_run(base / "run")
        recipe_file = base / "clinical-paragraphs.yaml"
        recipe_file.write_text(PARAGRAPH_RECIPE)
        report = figures("emit", spark, config_for(run, small_shards_config(),
                                                   emit__recipes=SHARED_RECIPES + [str(recipe_file)]))
        assert not any(v["skipped"] for v in report["variants"].values())
        _SHARED["run"], _SHARED["recipe_file"] = run, recipe_file
    return _SHARED["run"]


def copy_run(run: RunDir, dest: Path) -> RunDir:
    import shutil

    shutil.copytree(run.root, dest)
    return RunDir(dest)
