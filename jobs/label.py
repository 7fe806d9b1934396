"""Label stage: `labels/` from the sample (or an import file) through the LLM backends.

Labelling is pure Python (an HTTP client or an in-process vLLM engine): the stage needs no Spark
and runs on a GPU node as it is. The answer cache makes a rerun pay nothing twice.
"""

from __future__ import annotations

import logging

from pipeline.errors import IncompleteStageError
from pipeline.labeling.runner import label_run

log = logging.getLogger(__name__)


def build(ctx) -> dict:
    figures = label_run(ctx.run, ctx.cfg.label, overwrite=ctx.overwrite, engine=ctx.extras.get("engine"),
                        progress=ctx.progress)
    if figures.get("complete") is False:
        raise IncompleteStageError(
            f"label: {figures.get('pending')} paragraphs are not labelled yet (the server failed or went away); "
            "labels/ is not published", hint="rerun the same command: answers already received are not asked again")
    return figures


def main(argv: list[str] | None = None) -> None:
    from jobs._submit import submit_main

    submit_main("label", argv)


if __name__ == "__main__":
    main()
