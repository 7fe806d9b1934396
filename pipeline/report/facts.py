"""Every figure of the run report, as plain JSON-able data, read from the run's tables (DuckDB over
the Parquet files), stage reports and manifests. Each section is read defensively: a section whose
input is absent is None (the page omits it), never an error.

Inputs read (besides the tables): reports/<stage>.json (``figures`` merged over the top level, so
both the current and the one-stage-contract shapes work), model/model_card.json,
variants/<recipe>/manifest.json.
"""

from __future__ import annotations

import json
import logging
import platform
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import duckdb

from pipeline.catalog import define_views, read_manifests
from pipeline.report.agreement import heldout_agreement
from pipeline.rundir import MARKER, RunDir

log = logging.getLogger(__name__)

DOCUMENT_TYPES = ("clinical_case", "study", "review", "other")
DOMAINS = ("clinical", "biomedical", "other")
from pipeline.stages import STAGE_NAMES as STAGES  # noqa: E402  (run order)
SCORE_BIN = 0.25  # student scores are floats in [1, 5]: 16 bins, no half-step artefacts
TOP_N = 12
EXAMPLES_PER_CLASS = 2
EXAMPLE_CHARS = 400
CLUSTER_BUCKETS = ((2, 2), (3, 3), (4, 4), (5, 9), (10, 99), (100, 999), (1000, None))
PACKAGES = ("pmc-enrich", "pyspark", "duckdb", "pyarrow", "scikit-learn", "fasttext-community", "transformers",
            "torch", "datatrove", "datasketch")


def read_json(path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text()) if path.exists() else None
    except (OSError, ValueError) as exc:
        log.warning("report: unreadable %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def stage_report(run: RunDir, stage: str) -> dict[str, Any]:
    """reports/<stage>.json with its ``figures`` (one-stage-contract shape) merged over the top level."""
    data = read_json(run.report(stage)) or {}
    figures = data.get("figures") if isinstance(data.get("figures"), dict) else {}
    return {**data, **figures}


def _one(con, sql: str, params: list | None = None) -> Any:
    return con.execute(sql, params or []).fetchone()[0]


def _rows(con, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _counts(con, sql: str) -> dict[str, int]:
    """Value → count, in key order: GROUP BY gives no order, and the page must be deterministic."""
    return dict(sorted((("(none)" if k is None else str(k)), int(v)) for k, v in con.execute(sql).fetchall()))


def _has_column(con, view: str, column: str) -> bool:
    return column in {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}


def _top(counts: dict[str, int], n: int = TOP_N) -> dict[str, int]:
    """The n largest, the rest summed as 'other (k values)'."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out = dict(ordered[:n])
    rest = ordered[n:]
    if rest:
        out[f"other ({len(rest)} values)"] = sum(v for _, v in rest)
    return out


# --------------------------------------------------------------------------- sections


def funnels(con, objects: set[str], ingest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """One funnel per unit, each step a subset of the previous one (or its complement, said so)."""
    out: dict[str, list[dict[str, Any]]] = {}
    docs = ingest.get("documents") if isinstance(ingest.get("documents"), dict) else {}
    quarantined = docs.get("quarantined")
    if quarantined is None and "quarantine" in objects:
        quarantined = _one(con, "SELECT count(*) FROM quarantine")
    steps = [("documents seen", docs.get("seen")), ("parsed", docs.get("parsed")), ("quarantined", quarantined)]
    if any(v is not None for _, v in steps):
        out["documents"] = [{"step": s, "count": int(v)} for s, v in steps if v is not None]
    if "articles" in objects:
        kept = _one(con, "SELECT count(*) FROM articles")
        superseded = _one(con, "SELECT count(*) FROM superseded") if "superseded" in objects else None
        arts = ingest.get("articles") if isinstance(ingest.get("articles"), dict) else {}
        parsed = arts.get("parsed", kept + (superseded or 0) if superseded is not None else None)
        steps = [("article copies parsed", parsed), ("kept (newest copy)", kept), ("superseded", superseded)]
        if "dedup_articles" in objects:
            steps.append(("kept, flagged as reprints", _one(con, "SELECT count(DISTINCT article_id) FROM dedup_articles")))
        out["articles"] = [{"step": s, "count": int(v)} for s, v in steps if v is not None]
    if "paragraphs" in objects:
        steps = [("paragraphs", _one(con, "SELECT count(*) FROM paragraphs"))]
        if "dedup" in objects:
            steps.append(("non-duplicate", _one(con, "SELECT count(*) FROM dedup WHERE NOT is_duplicate")))
            if "annotations" in objects:
                steps.append(("non-duplicate, annotated by the student", _one(
                    con, "SELECT count(*) FROM dedup d JOIN annotations a USING (paragraph_id) WHERE NOT d.is_duplicate")))
        elif "annotations" in objects:
            steps.append(("annotated by the student", _one(con, "SELECT count(*) FROM annotations")))
        out["paragraphs"] = [{"step": s, "count": int(v)} for s, v in steps]
    return out


def label_coverage(con, objects: set[str]) -> list[dict[str, Any]] | None:
    """Where the LLM labels come from: a sample of the run, an import, or both."""
    if "labels" not in objects:
        return None
    rows = [("label rows", _one(con, "SELECT count(*) FROM labels")),
            ("valid (status ok)", _one(con, "SELECT count(*) FROM labels WHERE status = 'ok'")),
            ("valid, on a run paragraph", _one(con, "SELECT count(DISTINCT paragraph_id) FROM labels "
                                                    "WHERE status = 'ok' AND paragraph_id IS NOT NULL"))]
    if "sample" in objects:
        rows += [("paragraphs sampled for the LLM", _one(con, "SELECT count(*) FROM sample")),
                 ("sampled, with a valid label", _one(
                     con, "SELECT count(DISTINCT s.paragraph_id) FROM sample s JOIN labels l USING (paragraph_id) "
                          "WHERE l.status = 'ok'"))]
    return [{"what": k, "count": int(v)} for k, v in rows]


def variant_sizes(manifests: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, m in manifests.items():
        for split, s in (m.get("splits") or {}).items():
            out.append({"variant": name, "split": split, "articles": s.get("articles"),
                        "paragraphs": s.get("paragraphs"), "unique_rows": s.get("unique_rows"),
                        "rows": s.get("rows"), "unique_tokens": s.get("unique_tokens"), "tokens": s.get("tokens"),
                        "bytes": s.get("bytes"), "shards": len(s.get("shards") or []),
                        "tokenizer": m.get("tokenizer")})
    return out


def recipes(manifests: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, m in manifests.items():
        r = m.get("recipe") or {}
        f = r.get("filter") or {}
        rules = (r.get("upsample") or {}).get("rules") or []
        out.append({"variant": name, "unit": (r.get("format") or {}).get("unit"),
                    "min_educational_score": f.get("min_educational_score"),
                    "filters": "; ".join(f"{k}={v}" for k, v in f.items()
                                         if v not in (None, [], 0) and k != "min_educational_score") or "",
                    "upsampling": "; ".join(f"{x.get('name')} ×{x.get('factor')}" for x in rules),
                    "description": r.get("description") or ""})
    return out


def thresholds(manifests: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Score thresholds used by the variants: {"3.0": ["BE-Educational", "BE-All"], ...}."""
    out: dict[str, list[str]] = {}
    for name, m in manifests.items():
        score = ((m.get("recipe") or {}).get("filter") or {}).get("min_educational_score")
        if score is not None:
            out.setdefault(f"{float(score):.1f}", []).append(name)
    return out


def dedup_section(con, objects: set[str]) -> dict[str, Any] | None:
    if "dedup" not in objects:
        return None
    matches = _counts(con, "SELECT match, count(*) FROM dedup GROUP BY 1 ORDER BY 2 DESC")
    sizes = dict(con.execute("SELECT cluster_size, count(DISTINCT cluster_id) FROM dedup WHERE cluster_size > 1 "
                             "GROUP BY 1").fetchall())
    buckets = []
    for lo, hi in CLUSTER_BUCKETS:
        n = sum(v for k, v in sizes.items() if k >= lo and (hi is None or k <= hi))
        label = str(lo) if lo == hi else (f"{lo}+" if hi is None else f"{lo}-{hi}")
        buckets.append({"cluster_size": label, "clusters": int(n)})
    while buckets and buckets[-1]["clusters"] == 0:
        buckets.pop()
    top = []
    if "paragraphs" in objects:
        top = _rows(con, f"""
            SELECT d.cluster_id, any_value(d.cluster_size) AS copies, count(DISTINCT d.article_id) AS articles,
                   string_agg(DISTINCT d.match, ', ' ORDER BY d.match) AS matches,
                   any_value(p.text) AS text
            FROM dedup d LEFT JOIN paragraphs p ON p.paragraph_id = d.kept_paragraph_id
            WHERE d.cluster_size > 1
            GROUP BY d.cluster_id ORDER BY copies DESC, d.cluster_id LIMIT {TOP_N}""")
        for r in top:
            r["text"] = _clip(r["text"], 300)
    reprints = []
    if "dedup_articles" in objects:
        title = "a.title" if "articles" in objects else "NULL"
        join = "LEFT JOIN articles a USING (article_id)" if "articles" in objects else ""
        reprints = _rows(con, f"""
            SELECT r.article_id, r.other_article_id AS copy_of, r.n_shared, r.n_paragraphs, round(r.share, 3) AS share,
                   {title} AS title
            FROM dedup_articles r {join} ORDER BY r.share DESC, r.article_id LIMIT 20""")
    return {"matches": matches, "cluster_sizes": buckets, "top_repeated": top, "reprints": reprints,
            "reprinted_articles": int(_one(con, "SELECT count(*) FROM dedup_articles")) if "dedup_articles" in objects
            else None}


def contamination_section(con, objects: set[str]) -> dict[str, Any] | None:
    """Paragraphs that share n-grams with a benchmark item (contamination/), per benchmark."""
    if "contamination" not in objects:
        return None
    by_benchmark = _counts(con, "SELECT benchmark, count(DISTINCT paragraph_id) FROM contamination GROUP BY 1")
    flagged = int(_one(con, "SELECT count(DISTINCT paragraph_id) FROM contamination"))
    top = []
    if "paragraphs" in objects:
        top = _rows(con, f"""
            SELECT c.paragraph_id, c.benchmark, c.item_id, round(c.overlap, 3) AS overlap, p.text
            FROM contamination c LEFT JOIN paragraphs p USING (paragraph_id)
            ORDER BY c.overlap DESC, c.paragraph_id, c.benchmark, c.item_id LIMIT {TOP_N}""")
        for r in top:
            r["text"] = _clip(r["text"], 240)
    return {"paragraphs": flagged, "by_benchmark": by_benchmark, "top": top}


def languages_and_licences(con, objects: set[str]) -> dict[str, Any] | None:
    if "articles" not in objects:
        return None
    out: dict[str, Any] = {}
    if _has_column(con, "articles", "languages"):  # every language an article contains (issue 13)
        out["article_languages"] = _top(_counts(con, "SELECT lang, count(*) FROM (SELECT unnest(languages) AS lang "
                                                     "FROM articles) GROUP BY 1"))
        out["article_languages_note"] = "articles containing each language (an article may count under several)"
    else:
        out["article_languages"] = _top(_counts(con, "SELECT language, count(*) FROM articles GROUP BY 1"))
        out["article_languages_note"] = "article's declared main language"
    out["article_licences"] = _top(_counts(con, "SELECT license, count(*) FROM articles GROUP BY 1"))
    out["article_commercial"] = _counts(con, "SELECT CASE WHEN commercial THEN 'commercial' ELSE 'noncommercial' END, "
                                             "count(*) FROM articles GROUP BY 1")
    if "paragraphs" in objects:
        out["paragraph_languages"] = _top(_counts(con, "SELECT language, count(*) FROM paragraphs GROUP BY 1"))
        out["paragraph_licences"] = _top(_counts(
            con, "SELECT a.license, count(*) FROM paragraphs p JOIN articles a USING (article_id) GROUP BY 1"))
    return out


def student_distributions(con, objects: set[str], cuts: dict[str, list[str]]) -> dict[str, Any] | None:
    """The student's labels and scores over the whole run (every paragraph it annotated)."""
    if "annotations" not in objects:
        return None
    n = int(_one(con, "SELECT count(*) FROM annotations"))
    if n == 0:
        return None
    bins_n = int(round(4 / SCORE_BIN))
    raw = dict(con.execute(f"""SELECT least(greatest(floor((educational_score - 1) / {SCORE_BIN}), 0), {bins_n - 1})::INT,
                                      count(*) FROM annotations WHERE educational_score IS NOT NULL GROUP BY 1""").fetchall())
    bins = [[1 + i * SCORE_BIN, 1 + (i + 1) * SCORE_BIN, int(raw.get(i, 0))] for i in range(bins_n)]
    kept = {cut: int(_one(con, "SELECT count(*) FROM annotations WHERE educational_score >= ?", [float(cut)]))
            for cut in cuts}
    return {
        "n": n,
        "versions": _counts(con, "SELECT classifier_version, count(*) FROM annotations GROUP BY 1"),
        "document_type": _counts(con, "SELECT document_type, count(*) FROM annotations GROUP BY 1 ORDER BY 1"),
        "domain": _counts(con, "SELECT domain, count(*) FROM annotations GROUP BY 1 ORDER BY 1"),
        "score_bins": bins,
        "bin": SCORE_BIN,
        "score_mean": float(_one(con, "SELECT avg(educational_score) FROM annotations")),
        "at_or_above": kept,
    }


def examples(con, objects: set[str]) -> dict[str, list[dict[str, Any]]] | None:
    """A few non-duplicate paragraphs per student document type; ones the LLM also labelled come
    first, so both labels show. Deterministic: ordered by md5(paragraph_id)."""
    if "annotations" not in objects or "paragraphs" not in objects:
        return None
    has_labels = "labels" in objects
    llm = ("LEFT JOIN (SELECT DISTINCT ON (paragraph_id) paragraph_id, document_type AS llm_type, domain AS llm_domain, "
           "educational_score AS llm_score FROM labels WHERE status = 'ok' AND paragraph_id IS NOT NULL "
           "ORDER BY paragraph_id, labeller) l USING (paragraph_id)") if has_labels else ""
    llm_cols = "l.llm_type, l.llm_domain, l.llm_score" if has_labels else \
        "NULL AS llm_type, NULL AS llm_domain, NULL AS llm_score"
    dup = "LEFT JOIN dedup d USING (paragraph_id)" if "dedup" in objects else ""
    not_dup = "AND NOT coalesce(d.is_duplicate, false)" if "dedup" in objects else ""
    out: dict[str, list[dict[str, Any]]] = {}
    for cls in DOCUMENT_TYPES:
        rows = _rows(con, f"""
            SELECT p.paragraph_id, n.document_type AS student_type, n.domain AS student_domain,
                   round(n.educational_score, 2) AS student_score, {llm_cols}, p.text
            FROM annotations n JOIN paragraphs p USING (paragraph_id) {dup} {llm}
            WHERE n.document_type = '{cls}' {not_dup}
            ORDER BY {'l.llm_type IS NULL, ' if has_labels else ''}md5(p.paragraph_id)
            LIMIT {EXAMPLES_PER_CLASS}""")
        for r in rows:
            r["text"] = _clip(r["text"], EXAMPLE_CHARS)
        if rows:
            out[cls] = rows
    return out or None


def quarantine_section(con, objects: set[str]) -> list[dict[str, Any]] | None:
    if "quarantine" not in objects:
        return None
    return _rows(con, """SELECT reason, count(*) AS documents, min(source) AS example_source,
                                arg_min(error, source) AS example_error
                         FROM quarantine GROUP BY reason ORDER BY documents DESC, reason""")


def invalid_labels(con, objects: set[str]) -> list[dict[str, Any]] | None:
    if "labels" not in objects or not _has_column(con, "labels", "invalid_reason"):
        return None
    rows = _rows(con, """SELECT coalesce(invalid_reason, 'unknown') AS reason, count(*) AS labels,
                                arg_min(left(coalesce(raw_response, ''), 200), paragraph_id) AS example_response
                         FROM labels WHERE status <> 'ok' GROUP BY 1 ORDER BY labels DESC, reason""")
    return rows or None


def _elapsed(report: dict[str, Any], summary: dict[str, Any]) -> float | None:
    for key in ("elapsed_s", "seconds", "elapsed"):
        if isinstance(report.get(key), (int, float)):
            return float(report[key])
    value = summary.get("seconds") if isinstance(summary, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def timings(run: RunDir, con, objects: set[str]) -> list[dict[str, Any]] | None:
    """Wall time per stage (its report's elapsed_s, else the run summary's) and paragraphs/s, where
    paragraphs is the run's paragraph count (labels/s and examples/s for label and train)."""
    paragraphs = int(_one(con, "SELECT count(*) FROM paragraphs")) if "paragraphs" in objects else None
    summary = (read_json(run.report("run")) or {}).get("stages") or {}
    out = []
    for stage in STAGES:
        rep = stage_report(run, stage)
        seconds = _elapsed(rep, summary.get(stage) or {})
        if seconds is None:
            continue
        items, unit = paragraphs, "paragraphs"
        if stage == "label":
            items, unit = rep.get("rows") or rep.get("input_rows"), "labels"
        elif stage == "train":
            items, unit = rep.get("n_used"), "labelled examples"
        rate = round(items / seconds, 1) if items and seconds > 0 else None
        out.append({"stage": stage, "elapsed_s": round(seconds, 2), "items": items, "unit": unit, "per_s": rate,
                    "skipped": rep.get("skipped")})
    return out or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def provenance(run: RunDir, card: dict[str, Any] | None, manifests: dict[str, dict[str, Any]],
               con, objects: set[str]) -> dict[str, Any]:
    markers = {}
    for path in sorted(list(run.root.glob(f"*/{MARKER}")) + list(run.root.glob(f"variants/*/{MARKER}"))):
        try:
            meta = json.loads(path.read_text() or "{}")
        except ValueError:
            meta = {}
        name = str(path.parent.relative_to(run.root))
        markers[name] = {k: meta.get(k) for k in ("fingerprint", "stage", "rows", "label_hash") if meta.get(k)}
    settings: dict[str, Any] = {}
    stage_fps: dict[str, Any] = {}
    for stage in STAGES:
        raw = read_json(run.report(stage)) or {}  # the input fingerprints before figures are merged over them
        rep = stage_report(run, stage)
        if raw.get("fingerprint"):
            stage_fps[stage] = {"fingerprint": raw["fingerprint"], "inputs": raw.get("inputs")}
        for key in ("settings", "config", "params"):
            if isinstance(rep.get(key), dict) and rep[key]:
                settings[stage] = rep[key]
                break
    labellers = sorted(_counts(con, "SELECT labeller || ' (prompt ' || prompt_version || ')', count(*) FROM labels "
                                    "GROUP BY 1")) if "labels" in objects else []
    students = {name: s.get("version") for name, s in ((card or {}).get("students") or {}).items()}
    return {
        "stage_fingerprints": stage_fps,
        "table_markers": markers,
        "stage_settings": settings,
        "inputs": (stage_report(run, "ingest").get("inputs") or {}).get("arguments"),
        "labellers": labellers,
        "students": students,
        "default_student": (card or {}).get("default_student"),
        "annotated_by": sorted(_counts(con, "SELECT classifier_version, 1 FROM annotations GROUP BY 1"))
        if "annotations" in objects else [],
        "tokenizers": sorted({m.get("tokenizer") for m in manifests.values() if m.get("tokenizer")}),
        "variant_fingerprints": {n: m.get("fingerprint") for n, m in manifests.items()},
        "versions": {"python": platform.python_version(), **{p: v for p in PACKAGES if (v := _version(p))}},
    }


def _clip(text: str | None, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --------------------------------------------------------------------------- all


def gather(run: RunDir) -> dict[str, Any]:
    """Every figure the report shows, as plain data (also written to reports/report-figures.json)."""
    con = duckdb.connect()
    try:
        objects = set(define_views(con, run))
        manifests = read_manifests(run)
        ingest = stage_report(run, "ingest")
        card = read_json(run.root / "model" / "model_card.json")
        cuts = thresholds(manifests)
        facts = {
            "run": str(run.root),
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "funnels": funnels(con, objects, ingest),
            "label_coverage": label_coverage(con, objects),
            "variants": variant_sizes(manifests),
            "recipes": recipes(manifests),
            "thresholds": cuts,
            "dedup": dedup_section(con, objects),
            "contamination": contamination_section(con, objects),
            "languages_licences": languages_and_licences(con, objects),
            "agreement": heldout_agreement(run, con, objects, card),
            "student": student_distributions(con, objects, cuts),
            "examples": examples(con, objects),
            "quarantine": quarantine_section(con, objects),
            "invalid_labels": invalid_labels(con, objects),
            "timings": timings(run, con, objects),
            "provenance": provenance(run, card, manifests, con, objects),
        }
    finally:
        con.close()
    return facts
