"""Label stage wrapper: `labels/` + reports/label.json from the sample (or an import file).

Labelling is pure Python (HTTP client or an in-process vLLM engine), so ``spark`` is accepted for
the common ``run_<stage>`` signature and not used: the stage runs on a GPU node without Spark.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.labeling.runner import label_run
from pipeline.rundir import RunDir

log = logging.getLogger(__name__)


def run_label(spark, run: RunDir, cfg: PipelineConfig, overwrite: bool = False, engine: Any = None,
              progress: bool = True, **options: Any) -> dict:
    """``options`` override ``cfg.label`` keys (backend, model, base_url, path, ...)."""
    lcfg = cfg.label.model_copy(update={k: v for k, v in options.items() if v is not None})
    lcfg = type(lcfg).model_validate(lcfg.model_dump())  # re-validate the overrides
    return label_run(run, lcfg, overwrite=overwrite, engine=engine, progress=progress)


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import stage_parser, submit

    parser = stage_parser("LLM labels for the sampled paragraphs.")
    parser.add_argument("--backend", choices=["vllm", "openai", "import"])
    parser.add_argument("--model")
    parser.add_argument("--base-url")
    parser.add_argument("--path")
    args = parser.parse_args(argv)
    report = submit("label", args, spark=False, overwrite=args.overwrite, backend=args.backend, model=args.model,
                    base_url=args.base_url, path=args.path)
    if not report.get("complete", True):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
