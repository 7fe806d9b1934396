"""The report page: one self-contained HTML file (inline CSS and SVG, one small inline script that
checks the charts drew) built from :func:`pipeline.report.facts.gather`'s data."""

from __future__ import annotations

import html
import json
from typing import Any

from pipeline.report import svg

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;vertical-align:top}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
h2{border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:2em}h3{margin:1.2em 0 .3em}
.muted{color:#666;font-size:12px}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px}
figure.chart{margin:.6em 0;display:inline-block;vertical-align:top;margin-right:16px}
.grid{display:flex;flex-wrap:wrap;gap:8px}td.text{max-width:560px;font-size:12px}
pre{background:#f7f7f7;padding:8px;font-size:11px;overflow:auto;max-height:360px}
nav a{margin-right:10px}.wide{overflow-x:auto;max-width:100%}#chart-check{display:none}#chart-check.failed{display:block;color:#b2182b}"""

# Runs before anything else: records any script error, so the browser test (and a reader) sees it.
HEAD_SCRIPT = "window.__reportErrors=[];window.addEventListener('error',function(e){window.__reportErrors.push(" \
              "String(e.message||e));});"

# Runs last: a chart "drew" when it has at least one mark with a non-empty box. The verdict lands
# on <body data-charts=... data-charts-drawn=... data-errors=...> and, on failure, in a red banner.
CHECK_SCRIPT = """(function(){var figs=document.querySelectorAll('figure.chart'),drawn=0,bad=[];
figs.forEach(function(f){var ok=false;f.querySelectorAll('svg .mark').forEach(function(m){var b=m.getBBox();
if(b.width>0&&b.height>0){ok=true;}});if(ok){drawn++;}else{bad.push(f.id);}});
var b=document.body;b.setAttribute('data-charts',figs.length);b.setAttribute('data-charts-drawn',drawn);
b.setAttribute('data-errors',JSON.stringify(window.__reportErrors));
if(bad.length||window.__reportErrors.length){var c=document.getElementById('chart-check');c.className='failed';
c.textContent='Charts that did not draw: '+bad.join(', ')+' '+window.__reportErrors.join('; ');}})();"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cell(value: Any) -> tuple[str, str]:
    if isinstance(value, bool) or value is None:
        return "", "" if value is None else str(value)
    if isinstance(value, int):
        return "n", f"{value:,}"
    if isinstance(value, float):
        return "n", f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return "", ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "", json.dumps(value, sort_keys=True, default=str)
    return "", str(value)


def table(rows: list[dict[str, Any]] | None, columns: list[str] | None = None, text_columns: tuple[str, ...] = ()) -> str:
    if not rows:
        return "<p class='muted'>(none)</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            cls, text = _cell(r.get(c))
            cls = "text" if c in text_columns else cls
            cells.append(f"<td class='{cls}'>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='wide'><table><tr>{head}</tr>{''.join(body)}</table></div>"


class Charts:
    """Numbers each chart (ids for the browser check) and wraps it in a <figure>."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, svg_text: str, caption: str = "") -> str:
        if not svg_text:
            return ""
        self.count += 1
        cap = f"<figcaption class='muted'>{esc(caption)}</figcaption>" if caption else ""
        return f"<figure class='chart' id='chart-{self.count}'>{svg_text}{cap}</figure>"


def _funnel_section(facts: dict[str, Any], chart: Charts) -> list[str]:
    parts = ["<h2 id='funnel'>Funnel</h2>",
             "<p class='muted'>One chart per unit, linear axes: each step is a subset of the one above "
             "(quarantined and superseded are what the step above lost).</p><div class='grid'>"]
    for unit, steps in (facts.get("funnels") or {}).items():
        parts.append(chart(svg.hbars([(s["step"], s["count"]) for s in steps], f"{unit.capitalize()}", unit,
                                     width=520, label_width=250)))
    parts.append("</div>")
    cov = facts.get("label_coverage")
    if cov:
        parts += ["<h3>Where the LLM labels come from</h3>",
                  "<p class='muted'>Labels may be made for the sampled paragraphs or imported (e.g. a reference "
                  "set); only labels on run paragraphs can be compared with the student's annotations.</p>",
                  table(cov)]
    variants = facts.get("variants") or []
    if variants:
        items = [(f"{v['variant']} · {v['split']}", v.get("rows") or 0) for v in variants]
        tokens = [(f"{v['variant']} · {v['split']}", v.get("tokens") or 0) for v in variants]
        parts += ["<h3>Variants, after upsampling</h3>", "<div class='grid'>",
                  chart(svg.hbars(items, "Rows per variant and split (with repeats)", "rows", width=520,
                                  label_width=230, inner=[v.get("unique_rows") for v in variants],
                                  inner_label="before upsampling")),
                  chart(svg.hbars(tokens, "Tokens per variant and split (with repeats)", "tokens", width=520,
                                  label_width=230, inner=[v.get("unique_tokens") for v in variants],
                                  inner_label="before upsampling")),
                  "</div>",
                  table(variants, ["variant", "split", "articles", "paragraphs", "unique_rows", "rows",
                                   "unique_tokens", "tokens", "bytes", "shards"])]
        tok = sorted({v["tokenizer"] for v in variants if v.get("tokenizer")})
        if tok:
            parts.append(f"<p class='muted'>tokens counted with {esc('; '.join(tok))}; rows and tokens count every "
                         "upsampled copy, unique_rows / unique_tokens count each once.</p>")
        parts += ["<h3>Recipes</h3>", table(facts.get("recipes"), text_columns=("description",))]
    return parts


def _dedup_section(d: dict[str, Any] | None, chart: Charts) -> list[str]:
    if not d:
        return []
    parts = ["<h2 id='dedup'>Dedup</h2>", "<div class='grid'>",
             chart(svg.hbars(list(d["matches"].items()), "Paragraphs by dedup outcome", "paragraphs", width=480,
                             label_width=120),
                   "unique: no copy; kept: the copy kept for a cluster; exact / near: dropped copies"),
             chart(svg.hbars([(b["cluster_size"], b["clusters"]) for b in d["cluster_sizes"]],
                             "Duplicate clusters by size", "clusters", width=480, label_width=120),
                   "paragraphs per cluster (size 1 = unique, not shown)"),
             "</div>", "<h3>The most repeated texts</h3>",
             table(d["top_repeated"], ["copies", "articles", "matches", "cluster_id", "text"], text_columns=("text",)),
             f"<h3>Reprinted articles ({d['reprinted_articles'] if d['reprinted_articles'] is not None else 'n/a'})</h3>",
             table(d["reprints"])]
    return parts


def _contamination_section(c: dict[str, Any] | None, chart: Charts) -> list[str]:
    if not c:
        return []
    return ["<h2 id='contamination'>Benchmark contamination</h2>",
            f"<p>{c['paragraphs']:,} paragraphs share n-grams with a benchmark item.</p>",
            chart(svg.hbars(list(c["by_benchmark"].items()), "Paragraphs flagged, by benchmark", "paragraphs",
                            width=520, label_width=160)),
            "<h3>Largest overlaps</h3>", table(c["top"], text_columns=("text",))]


def _languages_section(ll: dict[str, Any] | None, chart: Charts) -> list[str]:
    if not ll:
        return []
    parts = ["<h2 id='languages'>Languages and licences</h2>", "<div class='grid'>",
             chart(svg.hbars(list(ll["article_languages"].items()), "Articles by language", "articles", width=480,
                             label_width=140), ll.get("article_languages_note", ""))]
    if ll.get("paragraph_languages"):
        parts.append(chart(svg.hbars(list(ll["paragraph_languages"].items()), "Paragraphs by language", "paragraphs",
                                     width=480, label_width=140), "detected per paragraph"))
    parts.append(chart(svg.hbars(list(ll["article_licences"].items()), "Articles by licence", "articles", width=480,
                                 label_width=140),
                       ", ".join(f"{k}: {v:,}" for k, v in ll.get("article_commercial", {}).items())))
    if ll.get("paragraph_licences"):
        parts.append(chart(svg.hbars(list(ll["paragraph_licences"].items()), "Paragraphs by licence", "paragraphs",
                                     width=480, label_width=140)))
    parts.append("</div>")
    return parts


HEADLINE = ["student", "on", "paragraphs", "type_acc", "type_f1", "type_kappa", "domain_acc", "domain_f1",
            "domain_kappa", "score_mae", "score_r", "score_rho", "keep_f1"]


def _per_class(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"class": c, **v} for c, v in (metrics.get("per_class") or {}).items()]


def _labels_section(facts: dict[str, Any], chart: Charts) -> list[str]:
    parts: list[str] = []
    ag = facts.get("agreement")
    if ag:
        parts += ["<h2 id='labels'>Labels: the LLM and the student on the same paragraphs</h2>"]
        comp = ag.get("compared")
        if comp:
            cls = "muted" if comp["held_out"] else "note"
            parts.append(f"<p class='{cls}'>Compared on {comp['n']:,} {esc(comp['population'])}. Truth: the LLM "
                         f"label; prediction: {esc(', '.join(comp['student_versions']))}.</p>")
        else:
            parts.append(f"<p class='note'>No paragraph has both an LLM label and a student annotation "
                         f"({esc(ag.get('population') or 'labels or annotations missing')}).</p>")
        paper = {**ag["paper"], "paragraphs": None}
        parts += ["<h3>Headline agreement, beside the paper's student</h3>", table(ag["students"] + [paper], HEADLINE),
                  "<p class='muted'>type / domain: accuracy, macro-F1, Cohen's κ; score: mean absolute error, "
                  "Pearson r, Spearman ρ, F1 of keep (score ≥ 3).</p>"]
        if ag.get("cv_spread"):
            parts += ["<p class='muted'>Spread over the cross-validation folds (mean ± standard deviation):</p>",
                      table(ag["cv_spread"])]
        if comp:
            for head, title in (("document_type", "Document type"), ("domain", "Domain")):
                m = comp[head]
                parts += [f"<h3>{title}: κ = {m['kappa'] if m['kappa'] is None else round(m['kappa'], 3)}, "
                          f"accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f} (n = {m['n']:,})</h3>",
                          "<div class='grid'>",
                          chart(svg.heatmap(m["confusion"]["labels"], m["confusion"]["matrix"],
                                            f"{title}: confusion matrix"), "rows: LLM label; columns: student"),
                          "<div>", table(_per_class(m), ["class", "precision", "recall", "f1", "support"]), "</div>",
                          "</div>"]
            s = comp["educational_score"]
            r = "n/a" if s["pearson"] is None else f"{s['pearson']:.3f}"
            parts += [f"<h3>Educational score: MAE {s['mae']:.3f}, r {r}, keep-F1 {s['keep_f1']:.3f} "
                      f"(n = {s['n']:,})</h3>",
                      chart(svg.calibration([(p["llm_score"], p["student_mean"], p["n"]) for p in comp["calibration"]],
                                            "Calibration: student score per LLM score", "LLM score",
                                            "mean student score"),
                            "dashed: perfect calibration; points above it: the student scores higher than the LLM"
                            + (f"; {comp['calibration_note']}" if comp.get("calibration_note") else ""))]
    st = facts.get("student")
    if st:
        cuts = facts.get("thresholds") or {}
        lines = [(float(c), f"≥ {c}: {', '.join(n)} ({st['at_or_above'].get(c, 0):,} paragraphs)")
                 for c, n in cuts.items()]
        parts += ["<h2 id='student'>The student over the whole run</h2>",
                  f"<p class='muted'>{st['n']:,} annotated paragraphs; mean score {st['score_mean']:.2f}. "
                  f"Bins of {st['bin']} score points.</p>", "<div class='grid'>",
                  chart(svg.hbars(list(st["document_type"].items()), "Document type (student)", "paragraphs",
                                  width=480, label_width=120)),
                  chart(svg.hbars(list(st["domain"].items()), "Domain (student)", "paragraphs", width=480,
                                  label_width=120)),
                  "</div>",
                  chart(svg.histogram([tuple(b) for b in st["score_bins"]], "Educational score (student)",
                                      "educational score", thresholds=lines, x_range=(1, 5)),
                        "dashed: the score threshold of each recipe that has one")]
    if facts.get("invalid_labels"):
        parts += ["<h3>Invalid LLM responses</h3>", table(facts["invalid_labels"], text_columns=("example_response",))]
    return parts


def _examples_section(ex: dict[str, Any] | None) -> list[str]:
    if not ex:
        return []
    parts = ["<h2 id='examples'>Example paragraphs per class</h2>",
             "<p class='muted'>Non-duplicate paragraphs by the student's document type; ones the LLM also labelled "
             "come first.</p>"]
    for cls, rows in ex.items():
        parts += [f"<h3>{esc(cls)}</h3>",
                  table(rows, ["paragraph_id", "student_type", "student_domain", "student_score", "llm_type",
                               "llm_domain", "llm_score", "text"], text_columns=("text",))]
    return parts


def _timings_section(rows: list[dict[str, Any]] | None, chart: Charts) -> list[str]:
    if not rows:
        return []
    return ["<h2 id='timings'>Stage timings</h2>",
            chart(svg.hbars([(r["stage"], r["elapsed_s"]) for r in rows], "Wall time per stage", "seconds",
                            width=600, label_width=110)),
            table(rows, ["stage", "elapsed_s", "items", "unit", "per_s", "skipped"]),
            "<p class='muted'>per_s = items ÷ elapsed_s (items: the run's paragraphs, or labels / labelled examples). "
            "A skipped stage reports the time of its check only.</p>"]


def _provenance_section(p: dict[str, Any]) -> list[str]:
    kv = [{"what": "inputs", "value": p.get("inputs")},
          {"what": "labellers (prompt)", "value": p.get("labellers")},
          {"what": "students (model card)", "value": p.get("students")},
          {"what": "default student", "value": p.get("default_student")},
          {"what": "annotations made by", "value": p.get("annotated_by")},
          {"what": "tokenizers", "value": p.get("tokenizers")}]
    parts = ["<h2 id='provenance'>Provenance</h2>", table([r for r in kv if r["value"]]),
             "<h3>Versions</h3>", table([{"package": k, "version": v} for k, v in p["versions"].items()]),
             "<h3>Fingerprints</h3>",
             table([{"stage": k, "fingerprint": v["fingerprint"], "inputs": v.get("inputs")}
                    for k, v in p.get("stage_fingerprints", {}).items()]),
             table([{"table": k, **v} for k, v in p.get("table_markers", {}).items()]),
             table([{"variant": k, "fingerprint": v} for k, v in p.get("variant_fingerprints", {}).items()])]
    if p.get("stage_settings"):
        parts += ["<h3>Stage settings</h3>",
                  f"<pre>{esc(json.dumps(p['stage_settings'], indent=2, sort_keys=True, default=str))}</pre>"]
    return parts


def _quarantine_section(rows: list[dict[str, Any]] | None) -> list[str]:
    if rows is None:
        return []
    total = sum(r["documents"] for r in rows)
    return ["<h2 id='quarantine'>Quarantine</h2>", f"<p>{total:,} documents quarantined.</p>" if rows else
            "<p>No document was quarantined.</p>",
            table(rows, ["reason", "documents", "example_source", "example_error"], text_columns=("example_error",))]


# Section name → its HTML builder (facts, chart numbering) → list of HTML parts, in page order.
SECTIONS = {
    "funnel": lambda f, c: _funnel_section(f, c),
    "dedup": lambda f, c: _dedup_section(f.get("dedup"), c),
    "contamination": lambda f, c: _contamination_section(f.get("contamination"), c),
    "languages": lambda f, c: _languages_section(f.get("languages_licences"), c),
    "labels": lambda f, c: _labels_section(f, c),
    "examples": lambda f, c: _examples_section(f.get("examples")),
    "quarantine": lambda f, c: _quarantine_section(f.get("quarantine")),
    "timings": lambda f, c: _timings_section(f.get("timings"), c),
    "provenance": lambda f, c: _provenance_section(f.get("provenance") or {"versions": {}}),
}


def render_section(facts: dict[str, Any], name: str, chart: Charts | None = None) -> str:
    """One section of the page as an HTML fragment (the notebook shows the report this way)."""
    return "\n".join(SECTIONS[name](facts, chart or Charts()))


def render_html(facts: dict[str, Any]) -> str:
    chart = Charts()
    body = [f"<h1>pmc-enrich run report</h1><p class='muted'>run: {esc(facts['run'])} · generated "
            f"{esc(facts['generated_at'])}</p><p id='chart-check'></p>",
            "<nav><a href='#funnel'>funnel</a><a href='#dedup'>dedup</a><a href='#contamination'>contamination</a><a href='#languages'>languages & licences</a>"
            "<a href='#labels'>labels</a><a href='#student'>student</a><a href='#examples'>examples</a>"
            "<a href='#quarantine'>quarantine</a><a href='#timings'>timings</a><a href='#provenance'>provenance</a></nav>"]
    for name in SECTIONS:
        body.append(render_section(facts, name, chart))
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>pmc-enrich report</title>"
            f"<script>{HEAD_SCRIPT}</script><style>{CSS}</style></head><body>"
            + "\n".join(body) + f"<script>{CHECK_SCRIPT}</script></body></html>")
