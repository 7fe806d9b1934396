"""Train the students on the LLM labels: fastText, transformer, cascade → RUN_DIR/model/.

Thin driver around ``classifiers/``: labels are small, so everything but drawing the cascade's
unlabelled paragraphs (Spark, from ``paragraphs/``) runs on the driver. Writes the model folder
atomically (built in a temp sibling, then renamed) and ``reports/train.json``.

    spark-submit jobs/train.py RUN_DIR [--labels PATH] [--student fasttext|transformer|cascade|all]
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from classifiers.dataset import Examples, examples_from_table, read_table, stratified_split
from classifiers.evaluate import evaluate
from classifiers.features import text_hash
from classifiers.fasttext_student import FastTextStudent
from classifiers.metrics import agreement_row, format_table, paper_row, PAPER_STUDENT
from classifiers.students import CARD, STUDENTS
from pipeline.config import PipelineConfig
from pipeline.rundir import RunDir, write_json_atomic

log = logging.getLogger(__name__)

STAGE = "train"
MODEL = "model"


# ---- labels ----------------------------------------------------------------------------------
def _file_hash(path: Path) -> str:
    digest = hashlib.sha1()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def load_labels(run: RunDir, labels: str | None) -> tuple[Examples, dict[str, Any]]:
    """Labels from a file (``labels``) or the run's ``labels/`` table (status == ok rows), with the
    context columns (section path, zone, article type) joined from the run when it has them."""
    if labels:
        path = Path(labels)
    else:
        path = run.table("labels")
        if not run.is_complete("labels"):
            raise FileNotFoundError(f"{path}: no complete labels table; run `pmc-enrich label` or pass --labels")
    table = read_table(path)
    table = _join_context(run, table)
    ex, skipped = examples_from_table(table, str(path))
    if len(ex) == 0:
        raise ValueError(f"{path}: no usable label rows ({skipped})")
    info = {
        "label_source": str(path), "label_hash": _file_hash(path), "n_rows": table.num_rows, "n_used": len(ex),
        "skipped_rows": skipped,
        "labeller": _distinct(table, "labeller") or [f"import:{path.name}"],
        "prompt_version": _distinct(table, "prompt_version") or ["unknown"],
        "context_columns": sorted(ex.context),
    }
    return ex, info


def _distinct(table: pa.Table, col: str) -> list[str]:
    if col not in table.column_names:
        return []
    return sorted(str(v) for v in pc.unique(table[col]).to_pylist() if v is not None)


def _join_context(run: RunDir, table: pa.Table) -> pa.Table:
    """Add section_path / zone / article_type from the run for rows that carry a paragraph_id."""
    if "paragraph_id" not in table.column_names or not run.is_complete("paragraphs"):
        return table
    import pyarrow.dataset as ds

    ids = pc.drop_null(pc.unique(table["paragraph_id"]))
    if len(ids) == 0:
        return table
    paras = ds.dataset(str(run.table("paragraphs")), format="parquet", exclude_invalid_files=True)
    ctx = paras.to_table(columns=["paragraph_id", "article_id", "zone", "section_path"],
                         filter=pc.field("paragraph_id").isin(ids))
    article_type: dict[str, str] = {}
    if run.is_complete("articles"):
        arts = ds.dataset(str(run.table("articles")), format="parquet", exclude_invalid_files=True)
        art = arts.to_table(columns=["article_id", "article_type"],
                            filter=pc.field("article_id").isin(pc.unique(ctx["article_id"])))
        article_type = dict(zip(art["article_id"].to_pylist(), art["article_type"].to_pylist()))
    # Arrow's join cannot carry list columns (section_path): map by paragraph_id instead.
    by_id = {pid: (zone, path, article_type.get(aid)) for pid, aid, zone, path in zip(
        ctx["paragraph_id"].to_pylist(), ctx["article_id"].to_pylist(), ctx["zone"].to_pylist(),
        ctx["section_path"].to_pylist())}
    found = [by_id.get(pid, (None, None, None)) for pid in table["paragraph_id"].to_pylist()]
    drop = [c for c in ("zone", "section_path", "article_type", "section") if c in table.column_names]
    table = table.drop_columns(drop)
    table = table.append_column("zone", pa.array([f[0] for f in found], pa.string()))
    table = table.append_column("section_path", pa.array([f[1] for f in found], pa.list_(pa.string())))
    return table.append_column("article_type", pa.array([f[2] for f in found], pa.string()))


# ---- the cascade's unlabelled set --------------------------------------------------------------
def load_unlabelled(spark, run: RunDir, cfg: PipelineConfig, path: str | None) -> Examples:
    """Paragraphs for the transformer to pseudo-label: a file, or a deterministic hash sample of
    the run's ``paragraphs/`` (at most ``train.cascade.max_paragraphs``)."""
    cc = cfg.train.cascade
    if path:
        table = read_table(path)
        if "text" not in table.column_names:
            raise ValueError(f"{path}: no text column")
        data = table.to_pydict()
        texts = [t for t in data["text"] if t and len(t.split()) >= cc.min_words][: cc.max_paragraphs]
        keep = [i for i, t in enumerate(data["text"]) if t and len(t.split()) >= cc.min_words][: cc.max_paragraphs]
        ctx = {}
        if "section_path" in data or "section" in data:
            col = data.get("section_path", data.get("section"))
            ctx["section"] = [col[i] for i in keep]
        for c in ("zone", "article_type"):
            if c in data:
                ctx[c] = [data[c][i] for i in keep]
        return Examples(text=texts, context=ctx, key=[_ws_hash(t) for t in texts])
    if not run.is_complete("paragraphs"):
        raise FileNotFoundError("the cascade needs unlabelled paragraphs: ingest the run first "
                                "or set train.cascade.unlabelled / --unlabelled")
    from pyspark.sql import functions as F

    if spark is None:
        from pipeline.spark import get_spark
        spark = get_spark(cfg.spark)
    paras = spark.read.parquet(str(run.table("paragraphs"))).where(F.col("n_words") >= cc.min_words)
    if run.is_complete("articles"):
        arts = spark.read.parquet(str(run.table("articles"))).select("article_id", "article_type")
        paras = paras.join(arts, "article_id", "left")
    else:
        paras = paras.withColumn("article_type", F.lit(None).cast("string"))
    total = paras.count()
    frac = min(1.0, 1.2 * cc.max_paragraphs / max(total, 1))  # a little over: the limit trims it
    h = F.xxhash64(F.lit(cfg.train.seed), F.col("paragraph_id"))
    sample = (paras.withColumn("_h", h)
              .where((F.pmod(F.col("_h"), F.lit(1_000_000)) < F.lit(int(frac * 1_000_000))) | F.lit(frac >= 1.0))
              .orderBy("_h", "paragraph_id").limit(cc.max_paragraphs)
              .select("paragraph_id", "text", "zone", "section_path", "article_type"))
    data = sample.toArrow().to_pydict()
    log.info("cascade: %d unlabelled paragraphs drawn from %d", len(data["text"]), total)
    return Examples(text=data["text"], context={"section": data["section_path"], "zone": data["zone"],
                                                "article_type": data["article_type"]},
                    key=[_ws_hash(t) for t in data["text"]])


def _ws_hash(text: str) -> str:
    """Hash of the whitespace-normalised text: matches a label file's normalised copy of a paragraph."""
    return text_hash(" ".join(text.split()))


# ---- training --------------------------------------------------------------------------------
def _train_fasttext(train: Examples, fit: Examples, dev: Examples, cfg: PipelineConfig) -> FastTextStudent:
    tc = cfg.train
    head_params = None
    if tc.autotune != "off":
        # Tune on fit → dev (dev unseen), then train the chosen settings on all of train.
        tuned = FastTextStudent.train(fit, tc.fasttext_params(), tc.context_features, tc.context_dropout, tc.seed,
                                      autotune=tc.autotune, dev=dev, autotune_duration=tc.autotune_duration)
        head_params = tuned.params
    student = FastTextStudent.train(train, tc.fasttext_params(), tc.context_features, tc.context_dropout, tc.seed,
                                    head_params=head_params)
    student.meta["autotune"] = tc.autotune
    return student


def _train_transformer(fit: Examples, dev: Examples, cfg: PipelineConfig):
    from classifiers.transformer import TransformerStudent

    tp = cfg.train.transformer
    params = tp.model_dump(exclude={"encoder", "device", "predict_batch_size"})
    return TransformerStudent.train(fit, dev, encoder=tp.encoder, params=params,
                                    context_features=cfg.train.context_features,
                                    context_dropout=cfg.train.context_dropout, seed=cfg.train.seed, device=tp.device)


def _wanted(student: str) -> list[str]:
    if student == "all":
        return list(STUDENTS)
    if student not in STUDENTS:
        raise ValueError(f"--student must be one of {STUDENTS} or all, got {student!r}")
    return [student]


def run_train(spark, run: RunDir, cfg: PipelineConfig, labels: str | None = None, student: str | None = None,
              unlabelled: str | None = None, overwrite: bool = False) -> dict:
    """Train the requested student(s) on the labels, evaluate on the held-out split, publish
    ``model/`` and write ``reports/train.json``. ``spark`` is only used to draw the cascade's
    unlabelled paragraphs from the run (may be None: a session is then made when needed)."""
    tc = cfg.train
    labels = labels or tc.labels
    wanted = _wanted(student or tc.student)
    run.clean_temporaries()
    ex, info = load_labels(run, labels)

    existing = run.marker(MODEL) if run.is_complete(MODEL) else None
    if existing and not overwrite and existing.get("label_hash") == info["label_hash"] \
            and set(wanted) <= set(existing.get("students", [])):
        log.info("model/ already holds %s trained on these labels; skipping (use --overwrite)", wanted)
        return _read_report(run)

    train_idx, held_idx = stratified_split(ex, tc.validation_fraction, tc.seed)
    train, held = ex.take(train_idx), ex.take(held_idx)
    fit_idx, dev_idx = stratified_split(train, tc.dev_fraction, tc.seed + 1)
    fit, dev = train.take(fit_idx), train.take(dev_idx)
    split = {"train": len(train), "heldout": len(held), "fit": len(fit), "dev": len(dev),
             "validation_fraction": tc.validation_fraction, "dev_fraction": tc.dev_fraction, "seed": tc.seed,
             "method": "hash-stratified by (document_type, domain)"}
    log.info("labels: %d usable → train %d (fit %d + dev %d), held-out %d", len(ex), len(train), len(fit), len(dev),
             len(held))

    tmp = run.tmp_path(MODEL)
    tmp.mkdir(parents=True)
    card_students: dict[str, dict] = {}
    metrics: dict[str, dict] = {}
    old_card = _read_card(run)
    # Keep the students this run does not retrain (same labels only), so model/ stays whole.
    if existing and existing.get("label_hash") == info["label_hash"]:
        for name in existing.get("students", []):
            if name not in wanted and (run.table(MODEL) / name).exists():
                shutil.copytree(run.table(MODEL) / name, tmp / name)
                card_students[name] = old_card.get("students", {}).get(name, {})
                metrics[name] = card_students[name].get("metrics", {})

    transformer = None
    for name in [s for s in STUDENTS if s in wanted]:
        t0 = time.time()
        if name == "fasttext":
            model = _train_fasttext(train, fit, dev, cfg)
        elif name == "transformer":
            model = transformer = _train_transformer(fit, dev, cfg)
        else:  # cascade
            from classifiers.cascade import train_cascade

            if transformer is None:
                transformer = _load_or_train_teacher(run, tmp, fit, dev, cfg, card_students)
            pool = load_unlabelled(spark, run, cfg, unlabelled or tc.cascade.unlabelled)
            model, _ = train_cascade(transformer, pool, train if tc.cascade.include_gold else None,
                                     tc.fasttext_params(), tc.context_features, tc.context_dropout, tc.seed,
                                     exclude_keys={_ws_hash(t) for t in held.text},
                                     batch_size=tc.transformer.predict_batch_size)
        seconds = time.time() - t0
        t1 = time.time()
        m = evaluate(model, held, batch_size=tc.transformer.predict_batch_size)
        eval_seconds = time.time() - t1
        model.save(tmp / name, extra={"student": name, "train_seconds_total": round(seconds, 2)})
        metrics[name] = m
        card_students[name] = {
            "version": model.version, "kind": model.kind, "path": name,
            "hyperparameters": model.params if model.kind == "fasttext" else model.meta.get("params"),
            "features": {"text": "normalised (classifiers.features.normalise)" if model.kind == "fasttext"
                         else "raw text, model tokenizer",
                         "context": list(model.context_features), "context_dropout": tc.context_dropout},
            "score_head": getattr(model, "score_head", "classes (expected value over 5 classes)"),
            "train_seconds": round(seconds, 2), "heldout_predict_seconds": round(eval_seconds, 2),
            "metrics": m, **({"cascade": model.meta.get("cascade")} if name == "cascade" else {}),
            **({"score_head_choice": model.meta.get("score_head_choice")} if name == "transformer" else {}),
        }
        log.info("%s: type F1 %.3f, domain F1 %.3f, score MAE %.3f (%.0fs)", name, m["document_type"]["macro_f1"],
                 m["domain"]["macro_f1"], m["educational_score"]["mae"], seconds)

    students = sorted(card_students)
    default = "cascade" if "cascade" in students else "fasttext" if "fasttext" in students else students[0]
    card = {
        **{k: info[k] for k in ("label_source", "label_hash", "labeller", "prompt_version", "n_rows", "n_used",
                                "skipped_rows", "context_columns")},
        "split": split, "students": card_students, "default_student": default,
        "classes": {h: c for h, c in _classes().items()},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(tmp / CARD, card)
    run.publish(tmp, MODEL, {"label_hash": info["label_hash"], "students": students,
                             "versions": {s: card_students[s].get("version") for s in students}})

    rows = [agreement_row(s, metrics[s]) for s in STUDENTS if s in metrics and metrics[s]]
    report = {
        "stage": STAGE, "model_dir": str(run.table(MODEL)), "default_student": default,
        **{k: info[k] for k in ("label_source", "label_hash", "labeller", "prompt_version", "n_used", "skipped_rows")},
        "split": split, "students": {s: card_students[s] for s in students},
        "table": rows, "paper_student": PAPER_STUDENT, "skipped": False,
    }
    write_json_atomic(run.report(STAGE), report)
    return report


def _load_or_train_teacher(run: RunDir, tmp: Path, fit: Examples, dev: Examples, cfg: PipelineConfig,
                           card_students: dict):
    """The cascade's teacher: the transformer already in model/ (or this build), else a new one."""
    from classifiers.transformer import TransformerStudent

    for where in (tmp / "transformer", run.table(MODEL) / "transformer"):
        if (where / "student.json").exists():
            log.info("cascade: teacher = %s", where)
            return TransformerStudent.load(where, device=cfg.train.transformer.device)
    log.info("cascade: no transformer student yet; training one as the teacher")
    return _train_transformer(fit, dev, cfg)


def _classes() -> dict[str, list[str]]:
    from classifiers.heads import HEADS
    return {h.name: list(h.classes) for h in HEADS}


def _read_card(run: RunDir) -> dict:
    import json
    path = run.table(MODEL) / CARD
    return json.loads(path.read_text()) if path.exists() else {}


def _read_report(run: RunDir) -> dict:
    import json
    path = run.report(STAGE)
    report = json.loads(path.read_text()) if path.exists() else {"stage": STAGE}
    report["skipped"] = True
    return report


def print_table(report: dict) -> str:
    return format_table([*report.get("table", []), paper_row()])


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import stage_parser, submit

    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--labels")
    parser.add_argument("--student", default=None, choices=[*STUDENTS, "all"])
    parser.add_argument("--unlabelled")
    args = parser.parse_args(argv)
    submit("train", args, spark=args.student in ("cascade", "all") and not args.unlabelled, render=print_table,
           labels=args.labels, student=args.student, unlabelled=args.unlabelled, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
