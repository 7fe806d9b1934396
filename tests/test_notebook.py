"""notebooks/explore.ipynb runs top to bottom (nbclient) against a run directory, so it cannot rot,
and shows the report's own charts. Here against the hand-made run (no Spark needed);
tests/test_run.py also runs it on the sample run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore.ipynb"


def execute_notebook(run_dir: Path, timeout: int = 120):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    old = os.environ.get("PMC_ENRICH_RUN")
    os.environ["PMC_ENRICH_RUN"] = str(run_dir)  # the kernel inherits our environment
    try:
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        if old is None:
            os.environ.pop("PMC_ENRICH_RUN", None)
        else:
            os.environ["PMC_ENRICH_RUN"] = old
    return nb


def outputs(nb) -> tuple[str, int]:
    """(printed text and HTML of every output, number of report charts shown); an error output
    fails the test."""
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            text.append(out.get("text", ""))
            text.append(out.get("data", {}).get("text/html", ""))
    joined = "".join(text)
    return joined, joined.count("<figure class='chart'")


def test_notebook_shows_the_report_figures(tmp_path):
    from pipeline.report import write_report
    from test_emit_fixtures import make_tiny_run

    run = make_tiny_run(tmp_path / "run")
    nb = execute_notebook(run.root)
    text, n_charts = outputs(nb)
    html = text
    # The same charts as the report page, drawn by the same code.
    report = write_report(run)
    charts = re.findall(r"<figure class='chart' id='chart-\d+'>(.*?)</figure>", html, flags=re.S)
    page = (run.reports / "report.html").read_text()
    assert len(charts) == n_charts == report["charts"] >= 10
    assert all(chart in page for chart in charts)
    assert re.search(r"non-duplicate\s+\|\s+12\b", text)
    assert "BMC Case Reports" in text  # the clinical-case query
    # querying never writes the catalog (the catalog stage does): fresh in-memory views answered
    assert not (run.root / "catalog.duckdb").exists()


def test_the_documented_jupyter_command_exists():
    # The docs say `.venv/bin/jupyter lab notebooks/explore.ipynb`: jupyterlab must be installed.
    jupyter = Path(sys.executable).parent / "jupyter"
    assert jupyter.exists(), "jupyter missing: .ci/setup installs the dev extra"
    result = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and re.match(r"\d+\.\d+", result.stdout), result.stderr[-1000:]
