"""The report in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/setup)
loads reports/report.html offline, runs its scripts, and the page's own check records how many
charts drew (a chart draws when one of its marks has a non-empty box) and any script error on
<body>; --dump-dom hands back the DOM after the scripts ran."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.report import write_report
from test_emit_fixtures import make_tiny_run

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium not found: run .ci/setup (it installs Debian's chromium)"
    return found


def rendered_body(page: Path, profile: Path) -> dict[str, str]:
    """The <body> attributes of ``page`` after Chromium ran its scripts."""
    result = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body, result.stdout[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))


def test_every_chart_draws_without_script_errors(tmp_path):
    run = make_tiny_run(tmp_path / "run")
    out = write_report(run)
    page = run.reports / "report.html"
    body = rendered_body(page, tmp_path / "profile")
    assert int(body["data-charts"]) == out["charts"] == page.read_text().count("<figure class='chart'") >= 10
    assert body["data-charts-drawn"] == body["data-charts"]
    assert json.loads(body["data-errors"].replace("&quot;", '"')) == []


def test_the_check_catches_an_empty_chart_and_a_script_error(tmp_path):
    # The same page, one chart emptied of its marks and one failing script: the check must say so.
    run = make_tiny_run(tmp_path / "run")
    write_report(run)
    page = run.reports / "report.html"
    text = page.read_text()
    first = text.index("<figure class='chart'")
    end = text.index("</figure>", first)
    broken = text[:first] + re.sub(r"class='mark'", "class='nomark'", text[first:end]) + text[end:]
    broken = broken.replace("</body>", "<script>undefinedFunction();</script></body>")
    page.write_text(broken)
    body = rendered_body(page, tmp_path / "profile")
    assert int(body["data-charts-drawn"]) == int(body["data-charts"]) - 1
    # The failing script runs after the check's own script, so plant it before as well.
    page.write_text(broken.replace("<h1>", "<script>undefinedFunction();</script><h1>", 1))
    body = rendered_body(page, tmp_path / "profile2")
    assert "undefinedFunction" in body["data-errors"]


@pytest.mark.parametrize("width", [1200])
def test_screenshot_command_of_the_docs_works(tmp_path, width):
    run = make_tiny_run(tmp_path / "run")
    write_report(run)
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
                    f"--window-size={width},3000", f"--screenshot={shot}", (run.reports / "report.html").as_uri()],
                   capture_output=True, text=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
