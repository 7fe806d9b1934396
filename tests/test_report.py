"""The HTML report on the hand-made run: self-contained, with the right funnel and figures."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.report import gather, write_report
from test_emit_fixtures import copy_run, emitted_tiny_run, make_tiny_run


@pytest.fixture(scope="module")
def reported(spark, tmp_path_factory):
    run = copy_run(emitted_tiny_run(spark), tmp_path_factory.mktemp("report") / "run")
    result = CliRunner().invoke(app, ["report", str(run.root)])
    assert result.exit_code == 0, result.output
    return run


def test_funnel_counts_come_from_the_tables(reported):
    facts = json.loads((reported.reports / "report.json").read_text())
    funnel = {f["step"]: f["count"] for f in facts["funnel"]}
    assert funnel == {"input documents": 8, "articles": 7, "paragraphs": 17, "non-duplicate": 12, "sampled": 4,
                      "labelled (valid)": 4, "annotated": 17, "BE-All (unique paragraphs)": 6,
                      "BE-Base (unique paragraphs)": 10, "BE-ClinicalCase (unique paragraphs)": 10,
                      "Clinical-Paragraphs (unique paragraphs)": 9}
    assert [f["step"] for f in facts["funnel"]][:3] == ["input documents", "articles", "paragraphs"]
    assert facts["thresholds"] == {"3.0": ["BE-All"]}
    assert facts["distributions"]["labels"]["document_type"] == {"clinical_case": 1, "other": 1, "review": 1, "study": 1}
    assert facts["distributions"]["labels_invalid"] == {"bad_json": 1}
    assert facts["quarantine"] == {"malformed_xml": 1}
    sizes = {(v["variant"], v["split"]): v["rows"] for v in facts["variants"] if v["variant"].startswith("BE-")}
    assert sizes == {("BE-All", "commercial"): 20, ("BE-All", "noncommercial"): 11,
                     ("BE-Base", "commercial"): 2, ("BE-Base", "noncommercial"): 2,
                     ("BE-ClinicalCase", "commercial"): 11, ("BE-ClinicalCase", "noncommercial"): 11}


def test_html_is_self_contained_with_plots(reported):
    page = (reported.reports / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 4  # funnel, label distributions, score by type/domain, variant tokens
    assert all(len(i) > 1000 for i in images)
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", page)  # nothing fetched from elsewhere
    for text in ("Funnel", "BE-All", "fasttext (default)", "domain_f1", "0.82", "0.61", "≥3.0: BE-All", "malformed_xml"):
        assert text in page, text
    assert "tokens counted with" in page


def test_report_on_a_partial_run(tmp_path):
    # Only ingest tables: the report still renders, with what there is.
    run = make_tiny_run(tmp_path / "run")
    for table in ("dedup", "dedup_articles", "sample", "labels", "annotations", "model"):
        import shutil

        shutil.rmtree(run.table(table))
    facts = gather(run)
    assert [f["step"] for f in facts["funnel"]] == ["input documents", "articles", "paragraphs"]
    out = write_report(run)
    page = (run.reports / "report.html").read_text()
    assert out["bytes"] == len(page.encode()) and "no data in this run" in page
