"""notebooks/explore.ipynb runs top to bottom (nbclient) against a run directory, so it cannot rot.
Here against the hand-made run (no Spark needed); tests/test_run.py also runs it on the sample run."""

from __future__ import annotations

import os
import re
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
    text, images = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            text.append(out.get("text", ""))
            images += "image/png" in out.get("data", {})
    return "".join(text), images


def test_notebook_runs_on_a_run(tmp_path):
    from test_emit_fixtures import make_tiny_run

    run = make_tiny_run(tmp_path / "run")
    nb = execute_notebook(run.root)
    text, images = outputs(nb)
    assert images == 2  # funnel + score distributions (no variants emitted in this run)
    assert re.search(r"non-duplicate\s+\|\s+12\b", text)
    assert "BMC Case Reports" in text  # the clinical-case query
    assert (run.root / "catalog.duckdb").exists()
