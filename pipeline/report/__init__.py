"""One self-contained HTML report of a run (``reports/report.html``), readable top to bottom:
funnels per unit, dedup, languages and licences, the LLM labels against the student on the same
held-out paragraphs, the student's distributions with each recipe's threshold, examples,
quarantine, stage timings and provenance. Charts are inline SVG (pipeline.report.svg): the file
opens offline in any browser. The figures behind it are also written to
``reports/report-figures.json`` (``reports/report.json`` is the report stage's own run report).
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.catalog import require_run
from pipeline.report.facts import gather
from pipeline.report.page import render_html
from pipeline.rundir import RunDir, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

__all__ = ["FIGURES_FILE", "gather", "render_html", "write_report"]

FIGURES_FILE = "report-figures.json"


def write_report(run: RunDir) -> dict[str, Any]:
    """Write reports/report.html and reports/report-figures.json; refuses a folder that is not a run.
    Returns the stage's figures: where the page is, its size, and how many charts it holds."""
    require_run(run)
    facts = gather(run)
    page = render_html(facts)
    out = run.reports / "report.html"
    write_text_atomic(out, page)
    write_json_atomic(run.reports / FIGURES_FILE, facts)
    log.info("report: %s (%d KB)", out, out.stat().st_size // 1024)
    return {"path": str(out), "bytes": out.stat().st_size, "charts": page.count("<figure class='chart'"),
            "sections": sorted(k for k, v in facts.items() if v)}
