"""One self-contained HTML report of a run (``reports/report.html``): the funnel of counts from
inputs to each variant, label and score distributions with the recipes' thresholds drawn on them,
the student's metrics and the variants' sizes in tokens. Figures come from the tables themselves
(DuckDB over the Parquet files), plots are matplotlib (Agg) PNGs embedded as base64."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from datetime import datetime, timezone
from typing import Any

import duckdb

from pipeline.catalog import define_views, read_manifests
from pipeline.rundir import RunDir, write_json_atomic

log = logging.getLogger(__name__)

DOCUMENT_TYPES = ("clinical_case", "study", "review", "other")
DOMAINS = ("clinical", "biomedical", "other")


# --------------------------------------------------------------------------- facts


def _one(con, sql: str) -> Any:
    return con.execute(sql).fetchone()[0]


def _counts(con, table: str, column: str, where: str = "") -> dict[str, int]:
    rows = con.execute(f"SELECT {column}, count(*) FROM {table} {where} GROUP BY 1 ORDER BY 1").fetchall()
    return {str(k): int(v) for k, v in rows if k is not None}


def _read_json(path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, ValueError) as exc:
        log.warning("unreadable %s: %s", path, exc)
        return None


def thresholds(manifests: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Score thresholds used by the variants: {"3.0": ["BE-Educational", "BE-All"], ...}."""
    out: dict[str, list[str]] = {}
    for name, m in manifests.items():
        score = (m.get("recipe") or {}).get("filter", {}).get("min_educational_score")
        if score is not None:
            out.setdefault(f"{float(score):.1f}", []).append(name)
    return out


def gather(run: RunDir) -> dict[str, Any]:
    """Every figure the report shows, as plain data (also written to reports/report.json)."""
    con = duckdb.connect()
    try:
        objects = set(define_views(con, run))
        manifests = read_manifests(run)
        ingest = _read_json(run.report("ingest")) or {}
        funnel: list[dict[str, Any]] = []

        def step(label: str, value: Any, unit: str) -> None:
            if value is not None:
                funnel.append({"step": label, "count": int(value), "unit": unit})

        docs = ingest.get("documents") or {}
        step("input documents", docs.get("seen"), "documents")
        if "articles" in objects:
            step("articles", _one(con, "SELECT count(*) FROM articles"), "articles")
        if "paragraphs" in objects:
            step("paragraphs", _one(con, "SELECT count(*) FROM paragraphs"), "paragraphs")
        if "dedup" in objects:
            step("non-duplicate", _one(con, "SELECT count(*) FROM dedup WHERE NOT is_duplicate"), "paragraphs")
        if "sample" in objects:
            step("sampled", _one(con, "SELECT count(*) FROM sample"), "paragraphs")
        if "labels" in objects:
            # Run paragraphs with a valid label (an import may also bring texts from elsewhere).
            step("labelled (valid)", _one(con, "SELECT count(DISTINCT paragraph_id) FROM labels "
                                               "WHERE status = 'ok' AND paragraph_id IS NOT NULL"), "paragraphs")
        if "annotations" in objects:
            step("annotated", _one(con, "SELECT count(*) FROM annotations"), "paragraphs")
        for name, m in manifests.items():
            step(f"{name} (unique paragraphs)", m["totals"]["paragraphs"], "paragraphs")

        dist: dict[str, Any] = {}
        if "labels" in objects:
            ok = "WHERE status = 'ok'"
            dist["labels"] = {c: _counts(con, "labels", c, ok) for c in ("document_type", "domain", "educational_score")}
            dist["labels_invalid"] = _counts(con, "labels", "coalesce(invalid_reason, 'unknown')", "WHERE status <> 'ok'") \
                if "invalid_reason" in {r[0] for r in con.execute("DESCRIBE labels").fetchall()} else {}
        if "annotations" in objects:
            dist["annotations"] = {c: _counts(con, "annotations", c) for c in ("document_type", "domain")}
            dist["annotations"]["educational_score"] = _counts(
                con, "annotations", "round(educational_score * 2) / 2")  # half-point bins
            dist["score_by_type"] = {
                k: [float(x) for x in v] for k, v in con.execute(
                    "SELECT document_type, list(educational_score) FROM annotations "
                    "WHERE educational_score IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall() if k is not None}
            dist["score_by_domain"] = {
                k: [float(x) for x in v] for k, v in con.execute(
                    "SELECT domain, list(educational_score) FROM annotations "
                    "WHERE educational_score IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall() if k is not None}
        quarantine = _counts(con, "quarantine", "reason") if "quarantine" in objects else {}
    finally:
        con.close()

    variants = [{"variant": name, "split": split, **{k: v for k, v in s.items() if k != "shards"},
                 "shards": len(s["shards"]), "tokenizer": m.get("tokenizer")}
                for name, m in manifests.items() for split, s in m["splits"].items()]
    return {
        "run": str(run.root),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "funnel": funnel,
        "distributions": dist,
        "quarantine": quarantine,
        "thresholds": thresholds(manifests),
        "model_card": _read_json(run.root / "model" / "model_card.json"),
        "train_report": _read_json(run.report("train")),
        "variants": variants,
        "recipes": {name: m.get("recipe") for name, m in manifests.items()},
    }


# --------------------------------------------------------------------------- plots


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_funnel(funnel: list[dict[str, Any]]) -> str | None:
    if not funnel:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(funnel) + 1))
    labels = [f["step"] for f in funnel][::-1]
    values = [f["count"] for f in funnel][::-1]
    bars = ax.barh(labels, values, color="#4c72b0")
    ax.set_xscale("log")
    for bar, v in zip(bars, values):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:,}", va="center", fontsize=8)
    ax.set_xlabel("count (log scale)")
    ax.set_title("Funnel: inputs → variants")
    return _png(fig)


def plot_distributions(dist: dict[str, Any], cuts: dict[str, list[str]]) -> str | None:
    sources = [s for s in ("labels", "annotations") if s in dist]
    if not sources:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    fields = [("document_type", DOCUMENT_TYPES), ("domain", DOMAINS), ("educational_score", None)]
    width = 0.8 / len(sources)
    for ax, (field, order) in zip(axes, fields):
        keys = list(order) if order else sorted({float(k) for s in sources for k in dist[s][field]})
        for i, source in enumerate(sources):
            counts = {(float(k) if order is None else k): v for k, v in dist[source][field].items()}
            total = sum(counts.values()) or 1
            xs = [j + i * width for j in range(len(keys))]
            ax.bar(xs, [counts.get(k, 0) / total for k in keys], width=width,
                   label=f"{'LLM labels' if source == 'labels' else 'student'} (n={total:,})")
        ax.set_xticks([j + width * (len(sources) - 1) / 2 for j in range(len(keys))])
        ax.set_xticklabels([str(k) for k in keys], rotation=20 if order else 0, fontsize=8)
        ax.set_title(field)
        ax.set_ylabel("share")
        if field == "educational_score":
            for cut, names in cuts.items():
                pos = [j for j, k in enumerate(keys) if k >= float(cut)]
                if pos:
                    x = pos[0] - 0.5 + width * (len(sources) - 1) / 2
                    ax.axvline(x, color="crimson", ls="--")
                    ax.text(x, ax.get_ylim()[1] * 0.95, f" ≥{cut}: {', '.join(names)}", color="crimson", fontsize=7,
                            va="top")
        ax.legend(fontsize=7)
    fig.suptitle("Label distributions: LLM labels vs student annotations")
    return _png(fig)


def plot_scores_by_group(dist: dict[str, Any], cuts: dict[str, list[str]]) -> str | None:
    if not dist.get("score_by_type"):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    for ax, key, title in ((axes[0], "score_by_type", "by document type"), (axes[1], "score_by_domain", "by domain")):
        groups = dist.get(key) or {}
        names = list(groups)
        if names:
            ax.boxplot([groups[n] for n in names], showfliers=False)
            ax.set_xticks(range(1, len(names) + 1))
            ax.set_xticklabels([f"{n}\n(n={len(groups[n]):,})" for n in names], fontsize=8)
        for cut, recipes in cuts.items():
            ax.axhline(float(cut), color="crimson", ls="--")
            ax.text(0.5, float(cut), f"≥{cut}: {', '.join(recipes)}", color="crimson", fontsize=7, va="bottom")
        ax.set_ylim(0.8, 5.2)
        ax.set_ylabel("educational score (student)")
        ax.set_title(f"Educational score {title}")
    return _png(fig)


def plot_variants(variants: list[dict[str, Any]]) -> str | None:
    if not variants:
        return None
    plt = _plt()
    names = sorted({v["variant"] for v in variants})
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bottom = [0] * len(names)
    for split, color in (("commercial", "#55a868"), ("noncommercial", "#c44e52")):
        vals = [next((v["tokens"] for v in variants if v["variant"] == n and v["split"] == split), 0) for n in names]
        ax.bar(names, vals, bottom=bottom, label=split, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{total:,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("tokens (with repeats)")
    ax.set_title("Variant sizes in tokens")
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    ax.legend(fontsize=8)
    return _png(fig)


# --------------------------------------------------------------------------- HTML

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}
h2{border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:1.6em}.muted{color:#777;font-size:12px}"""


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "<p class='muted'>(none)</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else (
                f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v)))
            cells.append(f"<td class='{'n' if num else ''}'>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _flatten(data: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Nested metrics → rows of (metric, value), scalars only, lists of scalars summarised."""
    rows: list[dict[str, Any]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, (int, float, str, bool)) or data is None:
        rows.append({"metric": prefix, "value": data})
    elif isinstance(data, list) and len(data) <= 10 and all(isinstance(x, (int, float, str)) for x in data):
        rows.append({"metric": prefix, "value": ", ".join(str(x) for x in data)})
    return rows


def _img(b64: str | None, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>" if b64 else \
        f"<p class='muted'>({html.escape(alt)}: no data in this run)</p>"


def student_rows(card: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Headline held-out metrics per student from model/model_card.json (``students.<name>.metrics``)."""
    rows = []
    for name, student in ((card or {}).get("students") or {}).items():
        m = student.get("metrics") or {}
        dt, dm, sc = m.get("document_type", {}), m.get("domain", {}), m.get("educational_score", {})
        rows.append({"student": name + (" (default)" if card.get("default_student") == name else ""),
                     "version": student.get("version"),
                     "type_acc": dt.get("accuracy"), "type_f1": dt.get("macro_f1"),
                     "domain_acc": dm.get("accuracy"), "domain_f1": dm.get("macro_f1"),
                     "score_mae": sc.get("mae"), "score_r": sc.get("pearson"), "score_rho": sc.get("spearman")})
    return rows


def render_html(facts: dict[str, Any]) -> str:
    dist, cuts = facts["distributions"], facts["thresholds"]
    card = facts.get("model_card") or {}
    students = student_rows(card)
    metrics = [] if students else [m for m in _flatten(card) if any(
        w in m["metric"].lower() for w in ("f1", "acc", "mae", "spearman", "pearson", "version"))]
    about = {k: card.get(k) for k in ("labeller", "prompt_version", "label_source", "n_used", "default_student")
             if card.get(k) is not None}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>pmc-enrich report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>pmc-enrich run report</h1>",
        f"<p class='muted'>run: {html.escape(facts['run'])} · generated {html.escape(facts['generated_at'])}</p>",
        "<h2>Funnel</h2>", _img(plot_funnel(facts["funnel"]), "funnel"), _table(facts["funnel"]),
        "<h2>Quarantine</h2>", _table([{"reason": k, "documents": v} for k, v in facts["quarantine"].items()]),
        "<h2>Labels and scores</h2>",
        "<p>Score thresholds of the variants (dashed): "
        + html.escape("; ".join(f"≥{c}: {', '.join(n)}" for c, n in cuts.items()) or "none") + "</p>",
        _img(plot_distributions(dist, cuts), "label distributions"),
        _img(plot_scores_by_group(dist, cuts), "educational score by type and domain"),
    ]
    if dist.get("labels_invalid"):
        parts += ["<p>Invalid LLM responses by reason:</p>",
                  _table([{"reason": k, "count": v} for k, v in dist["labels_invalid"].items()])]
    parts += ["<h2>Student metrics</h2>",
              "<p class='muted'>held-out agreement with the LLM labels"
              + html.escape("".join(f" · {k}: {v}" for k, v in about.items())) + "</p>",
              _table(students) if students else _table(metrics[:80])]
    parts += ["<h2>Variants</h2>", _img(plot_variants(facts["variants"]), "variant sizes"),
              _table(facts["variants"], ["variant", "split", "articles", "paragraphs", "unique_rows", "rows",
                                         "unique_tokens", "tokens", "bytes", "shards"])]
    tok = sorted({v["tokenizer"] for v in facts["variants"] if v.get("tokenizer")})
    if tok:
        parts.append(f"<p class='muted'>tokens counted with {html.escape('; '.join(tok))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run: RunDir) -> dict[str, Any]:
    """Write reports/report.html (and the figures behind it as reports/report.json)."""
    if not run.root.is_dir():
        raise FileNotFoundError(f"run directory not found: {run.root}")
    facts = gather(run)
    page = render_html(facts)
    out = run.reports / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".report.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    write_json_atomic(run.reports / "report.json", {k: v for k, v in facts.items()
                                                    if k != "distributions"} | {
        "distributions": {k: v for k, v in facts["distributions"].items() if not k.startswith("score_by")}})
    log.info("report: %s (%d KB)", out, out.stat().st_size // 1024)
    return {"path": str(out), "bytes": out.stat().st_size, "funnel": facts["funnel"]}
