"""Every stage, declared once, in run order. The CLI commands, `run` and `spark-submit jobs/<stage>.py`
are all generated from these declarations (``pipeline.stage``)."""

from __future__ import annotations

from pathlib import Path

from pipeline.stage import Option, Stage

INGEST_TABLES = ("articles", "paragraphs", "quarantine", "superseded")


def _ingest_settings(cfg) -> dict:
    # The input set is part of what ingest's outputs depend on: its file listing (names, sizes).
    from pipeline.stage_files import inputs_fingerprint

    return {"inputs": inputs_fingerprint(cfg)}


def ingest_summary(figures: dict) -> str:
    """The end-of-ingest summary (plain text, one figure per line)."""
    docs, arts = figures["documents"], figures["articles"]
    rows = [
        ("inputs", f"{figures['inputs']['packages']} packages, {figures['inputs']['loose_files']} loose files"),
        ("documents seen", docs["seen"]),
        ("  parsed", docs["parsed"]),
        ("  quarantined", docs["quarantined"]),
        ("  parsed + quarantined == seen", "yes" if docs["reconciled"] else "NO"),
        ("articles kept", arts["kept"]),
        ("  superseded (older copies)", arts["superseded"]),
        ("paragraphs", figures["paragraphs"]),
    ]
    rows += [(f"licence group {k}", v) for k, v in figures.get("licence_groups", {}).items()]
    rows += [(f"quarantined: {k}", v) for k, v in figures.get("quarantined_by_reason", {}).items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _check_ingest(cfg) -> None:
    from pipeline.errors import UserError

    if not cfg.inputs:
        raise UserError("ingest: no inputs given", hint="pass INPUT... (packages, folders or files) or `inputs:` in "
                        "the config")
    for path in cfg.inputs:
        if "://" not in path and not Path(path).exists():
            raise UserError(f"input not found: {path}")


def _check_label(cfg) -> None:
    from pipeline.errors import UserError

    lc = cfg.label
    if lc.backend == "openai" and not lc.base_url:
        raise UserError("--backend openai needs --base-url", hint="the OpenAI-compatible server's URL, e.g. "
                        "http://127.0.0.1:8000/v1")
    if lc.backend == "import" and not lc.path:
        raise UserError("--backend import needs --path", hint="a labels file (JSONL or Parquet)")
    if lc.backend == "import" and lc.path and "://" not in lc.path and not Path(lc.path).exists():
        raise UserError(f"labels file not found: {lc.path}")
    if lc.backend in ("openai", "vllm") and not lc.model:
        raise UserError(f"--backend {lc.backend} needs --model",
                        hint="the model id the server serves, or a model path for vllm")


def _check_annotate(cfg) -> None:
    from pipeline.errors import MissingStageError, UserError
    from pipeline.rundir import RunDir

    if cfg.annotate.model:
        if not Path(cfg.annotate.model).is_dir():
            raise UserError(f"model folder not found: {cfg.annotate.model}")
    elif not RunDir(cfg.out).is_complete("model"):
        raise MissingStageError("model", "train", RunDir(cfg.out).root)
    _annotating_student(cfg)  # a student the model does not hold is a clear error before Spark starts


def _annotating_student(cfg) -> str:
    """The student folder that annotates (the card's pick for annotate.device unless named)."""
    from classifiers.students import resolve_student_dir
    from pipeline.errors import UserError
    from pipeline.rundir import RunDir

    model = cfg.annotate.model or RunDir(cfg.out).table("model")
    try:
        return str(resolve_student_dir(model, cfg.annotate.student, cfg.annotate.device))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc), hint="--student names one the model holds (see model/model_card.json)") from None


def _check_decontaminate(cfg) -> None:
    from pipeline.errors import UserError

    for path in cfg.decontaminate.benchmarks:
        if "://" not in path and not Path(path).is_file():
            raise UserError(f"benchmark file not found: {path}")


def _check_train(cfg) -> None:
    from pipeline.errors import MissingStageError, UserError
    from pipeline.rundir import RunDir

    pool = cfg.train.cascade.unlabelled
    if pool and "://" not in pool and not Path(pool).exists():
        raise UserError(f"unlabelled paragraphs file not found: {pool}")
    if cfg.train.labels:
        if "://" not in cfg.train.labels and not Path(cfg.train.labels).exists():
            raise UserError(f"labels file not found: {cfg.train.labels}")
    elif not RunDir(cfg.out).root.is_dir():
        raise UserError(f"{RunDir(cfg.out).root}: no such run directory",
                        hint="give the run's folder, or --labels FILE to train from a label file alone")
    elif not RunDir(cfg.out).is_complete("labels"):
        raise MissingStageError("labels", "label", RunDir(cfg.out).root)


def _label_settings(cfg) -> dict:
    from pipeline.stage_files import file_digest

    return {"path": file_digest(cfg.label.path) if cfg.label.backend == "import" else None,
            "input": file_digest(cfg.label.input)}


def _train_settings(cfg) -> dict:
    from classifiers.training import plan_students
    from pipeline.stage_files import file_digest

    # The students trained depend on the hardware when student is auto (the device is a knob).
    return {"labels": file_digest(cfg.train.labels), "unlabelled": file_digest(cfg.train.cascade.unlabelled),
            "students": plan_students(cfg.train.student, cfg.train.transformer.device)[0]}


def _emit_settings(cfg) -> dict:
    from pipeline.emit.recipe import recipes_fingerprint

    return {"recipes": recipes_fingerprint(cfg)}


def _emit_writes(cfg) -> tuple[str, ...]:
    from pipeline.emit.recipe import recipe_names

    return tuple(f"variants/{name}" for name in recipe_names(cfg))


ALL_TABLES = INGEST_TABLES + ("dedup", "dedup_articles", "contamination", "sample", "labels", "model",
                              "annotations")



def _whole_run_stage(name: str, help_: str, build: str, output: str) -> Stage:
    """A stage over every table of the run (catalog, report): redone when any of them changed."""
    return Stage(name=name, help=help_, build=build, needs=("articles", "paragraphs"),
                 uses=tuple(t for t in ALL_TABLES if t not in ("articles", "paragraphs")), uses_fn=_emit_writes,
                 files=(output,), spark=False)

STAGES: list[Stage] = [
    Stage(
        name="ingest",
        help="Parse PMC-OA packages and JATS files into articles/, paragraphs/, quarantine/ and superseded/; "
             "every input document is accounted for (parsed + quarantined == seen).",
        build="jobs.ingest:build",
        writes=INGEST_TABLES,
        section="ingest",
        settings=_ingest_settings,
        creates_run=True,
        out_option=True,
        redo="refuse",
        validate=_check_ingest,
        render="pipeline.stages:ingest_summary",
        options=(
            Option("inputs", "PMC bulk packages (*.tar.gz with their .filelist.csv), folders or files; local paths "
                   "or fsspec URLs.", key="inputs", positional=True, multiple=True, is_path=True),
        ),
    ),
    Stage(
        name="dedup",
        help="Exact + MinHash-LSH near-duplicate paragraphs (verified by exact Jaccard) → dedup/ and "
             "dedup_articles/ sidecars; paragraphs/ is never rewritten.",
        build="jobs.dedup:build",
        needs=("paragraphs",),
        uses=("articles",),
        writes=("dedup", "dedup_articles"),
        writes_fn=lambda cfg: ("dedup", "dedup_articles") if cfg.dedup.enabled else (),
        section="dedup",
        options=(
            Option("threshold", "Jaccard threshold of a near duplicate (default 0.8).", key="dedup.threshold",
                   type=float),
            Option("verify", "Verify LSH candidates by exact Jaccard (--no-verify accepts them as they are).",
                   key="dedup.verify", type=bool, flags=("--verify/--no-verify",)),
        ),
        summary=("paragraphs", "exact_duplicates", "near_duplicates", "clusters", "articles_flagged"),
    ),
    Stage(
        name="decontaminate",
        help="Flag paragraphs that share word n-grams with benchmark test sets → contamination/ sidecar "
             "(recipes drop flagged paragraphs by default).",
        build="jobs.decontaminate:build",
        needs=("paragraphs",),
        writes=("contamination",),
        section="decontaminate",
        settings=lambda cfg: __import__("pipeline.stage_files", fromlist=["x"]).files_digest(
            cfg.decontaminate.benchmarks),
        validate=_check_decontaminate,
        options=(
            Option("benchmarks", "Benchmark file (PubMedQA/BioASQ JSON, MedQA/MedMCQA JSONL, MMLU CSV, any JSONL); "
                   "repeatable.", key="decontaminate.benchmarks", flags=("--benchmark",), multiple=True,
                   is_path=True),
            Option("ngram", "Word n-gram size (default 13).", key="decontaminate.ngram", type=int),
            Option("min_ngrams", "Flag a paragraph sharing at least this many n-grams with one item.",
                   key="decontaminate.min_ngrams", type=int),
            Option("min_overlap", "... and at least this share of its own n-grams.", key="decontaminate.min_overlap",
                   type=float),
            Option("format", "Benchmark file format (default: from the file).", key="decontaminate.format"),
        ),
        summary=("plan", "benchmark_items", "index_ngrams", "paragraphs_flagged", "articles_flagged"),
    ),
    Stage(
        name="sample",
        help="Sample non-duplicate paragraphs for LLM labelling (stratified, or where the student is unsure).",
        build="jobs.sample:build",
        needs=("paragraphs", "articles"),
        uses=("dedup",),
        # An active round depends on what is labelled and on the student; a stratified sample does not
        # (else sample, label and train would invalidate each other on every run).
        uses_fn=lambda cfg: ("labels", "model") if cfg.sample.strategy != "stratified" else (),
        writes=("sample",),
        section="sample",
        options=(
            Option("size", "Number of paragraphs to sample.", key="sample.size", type=int, flags=("--size", "-n")),
            Option("fraction", "Share of eligible paragraphs (0-1].", key="sample.fraction", type=float),
            Option("seed", "Seed mixed into the per-paragraph order hash.", key="sample.seed", type=int),
            Option("min_tokens", "Drop paragraphs under this many estimated tokens (default 64, as the paper).",
                   key="sample.min_tokens", type=int),
            Option("floor", "Minimum rows per non-empty stratum (default 5).", key="sample.floor", type=int),
            Option("strategy", "stratified (a first round) | uncertainty (where the student is least sure) | "
                   "diverse (spread over the student's features).", key="sample.strategy",
                   choices=("stratified", "uncertainty", "diverse")),
            Option("random_share", "Share of an active batch drawn at random (default 0.1).",
                   key="sample.random_share", type=float),
        ),
        version="2",  # round and strategy columns
        summary=("paragraphs", "eligible", "sampled", "n_strata"),
    ),
    Stage(
        name="label",
        help="LLM labels under the rubric for the sampled paragraphs (vLLM offline, any OpenAI-compatible "
             "server, or an existing labels file) → labels/; answers are cached, so a rerun pays nothing twice.",
        build="jobs.label:build",
        version="2",  # probabilities, round and strategy columns
        uses=("sample",),
        writes=("labels",),
        section="label",
        settings=_label_settings,
        validate=_check_label,
        creates_run=True,  # labelling a file (--input) needs no ingest
        spark=False,
        options=(
            Option("backend", "vllm | openai | import.", key="label.backend", flags=("--backend", "-b"),
                   choices=("vllm", "openai", "import")),
            Option("model", "Model id sent to the server, or model path for vllm (the labeller's name).",
                   key="label.model", flags=("--model", "-m")),
            Option("base_url", "openai: server URL, e.g. http://127.0.0.1:8000/v1 (key from $OPENAI_API_KEY).",
                   key="label.base_url"),
            Option("path", "import: labels file (JSONL or Parquet with text + the four fields).", key="label.path",
                   is_path=True),
            Option("input", "Label this JSONL/Parquet (text[, paragraph_id]) instead of RUN_DIR/sample.",
                   key="label.input", is_path=True),
            Option("limit", "Label only the first N input rows.", key="label.limit", type=int),
            Option("constraint", "json_schema | regex | none.", key="label.constraint",
                   choices=("json_schema", "regex", "none")),
            Option("concurrency", "openai: requests in flight.", key="label.concurrency", type=int),
            Option("batch_size", "vllm: conversations per llm.chat call.", key="label.batch_size", type=int),
            Option("max_model_len", "vllm engine option.", key="label.max_model_len", type=int),
            Option("gpu_memory_utilization", "vllm engine option.", key="label.gpu_memory_utilization", type=float),
            Option("tensor_parallel_size", "vllm engine option.", key="label.tensor_parallel_size", type=int),
            Option("tokenizer_mode", "vllm engine option, e.g. mistral.", key="label.tokenizer_mode"),
            Option("config_format", "vllm engine option, e.g. mistral.", key="label.config_format"),
            Option("load_format", "vllm engine option, e.g. dummy (random weights).", key="label.load_format"),
            Option("prefix_caching", "vllm: enable_prefix_caching.", key="label.enable_prefix_caching", type=bool,
                   flags=("--prefix-caching/--no-prefix-caching",)),
        ),
        summary=("backend", "labeller", "rows", "valid", "invalid", "pending", "from_cache"),
    ),
    Stage(
        name="train",
        help="Distil the LLM labels into students (fastText, fine-tuned MiniLM, cascade), evaluated by "
             "grouped cross-validation over articles → model/.",
        build="jobs.train:build",
        uses=("labels", "paragraphs", "articles"),
        writes=("model",),
        section="train",
        settings=_train_settings,
        spark=False,  # Spark only to draw the cascade's unlabelled pool: started on first use
        creates_run=True,  # a label file (--labels) needs no ingest
        render="jobs.train:print_table",
        validate=_check_train,
        options=(
            Option("labels", "Label file (JSONL/Parquet) instead of RUN_DIR/labels/.", key="train.labels",
                   is_path=True),
            Option("student", "Which student(s) to train; auto: what this hardware can use, picked by grouped CV.",
                   key="train.student",
                   choices=("auto", "fasttext", "linear", "transformer", "distilled", "cascade", "static", "all")),
            Option("unlabelled", "distilled / cascade: paragraphs the transformer pseudo-labels (JSONL/Parquet "
                   "with text); default: a sample of RUN_DIR/paragraphs/.",
                   key="train.cascade.unlabelled", is_path=True),
            Option("autotune", "fastText: off | grid | fasttext.", key="train.autotune",
                   choices=("off", "grid", "fasttext")),
        ),
    ),
    Stage(
        name="annotate",
        help="Score every paragraph with the trained student → annotations/ sidecar.",
        build="jobs.annotate:build",
        needs=("paragraphs",),
        uses=("articles", "model"),
        # Which student annotates depends on the device (a knob): the resolved student is a setting.
        settings=lambda cfg: {"model": __import__("pipeline.stage_files", fromlist=["x"]).file_digest(
            cfg.annotate.model), "student": Path(_annotating_student(cfg)).name},
        validate=_check_annotate,
        writes=("annotations",),
        section="annotate",
        options=(
            Option("model", "Model folder (default: RUN_DIR/model).", key="annotate.model", flags=("--model", "-m"),
                   is_path=True),
            Option("student", "Student to annotate with (default: the model card's pick for this device).",
                   key="annotate.student", choices=("fasttext", "linear", "transformer", "distilled", "cascade", "static")),
        ),
        summary=("paragraphs", "student", "model_version"),
    ),
    Stage(
        name="emit",
        help="Filter, upsample and shard each recipe's variant → variants/<recipe>/<split>/train-*.parquet "
             "(+ the recipe's other formats) with README.md (dataset card), manifest.json and mixture.json.",
        build="jobs.emit:build",
        needs=("paragraphs", "articles"),
        uses=("dedup", "dedup_articles", "annotations", "contamination", "labels", "model"),
        section="emit",
        settings=_emit_settings,
        writes_fn=_emit_writes,
        options=(
            Option("recipes", "Recipe name (configs/recipes/<NAME>.yaml) or YAML file; repeatable.",
                   key="emit.recipes", flags=("--recipe", "-r"), multiple=True),
            Option("seed", "Seed of the deterministic global shuffle.", key="emit.seed", type=int),
            Option("tokenizer", "The trainer's tokenizer (a tokenizer.json or its folder) for token counts and "
                   "tokenized outputs; or auto | minilm | regex.", key="emit.tokenizer"),
        ),
    ),
    _whole_run_stage("catalog", "RUN_DIR/catalog.duckdb: DuckDB views over every table of the run.",
                     "pipeline.stages:build_catalog", "catalog.duckdb"),
    _whole_run_stage("report", "RUN_DIR/reports/report.html: one self-contained page with the run's figures.",
                     "pipeline.stages:build_report", "reports/report.html"),
]

STAGE_NAMES = [s.name for s in STAGES]
BY_NAME = {s.name: s for s in STAGES}


def build_catalog(ctx) -> dict:
    from pipeline.catalog import build_catalog as build

    return build(ctx.run)


def build_report(ctx) -> dict:
    from pipeline.report import write_report

    return write_report(ctx.run)
