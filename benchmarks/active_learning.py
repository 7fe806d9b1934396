"""Pool-based active-learning simulation on the reference labels: does choosing what the LLM labels
(uncertainty, diverse) beat random sampling for the same number of labels?

The 3,000 reference labels stand in for the LLM: a strategy "asks" for a paragraph and gets its
reference label. Students are evaluated on held-out ARTICLES (every paragraph of an article is on
one side), never on paragraphs of articles they trained on (articles holding clinical cases are split so that test
keeps at most 40% of them: 31 of the 42 sit in one article). Each seed: a new article split and a new random start of
500 labels (the same start for every strategy), then rounds of 250 up to 2,000.

The student is a fast CPU stand-in for classifiers/'s fastText student: one logistic regression
per head on hashed word 1-2-grams (scikit-learn), retrained from scratch every round; the diverse
strategy's features are a 64-dimension SVD of the same hashed features. Selection is
pipeline.active (the code `pmc-enrich sample --strategy` runs).

    python benchmarks/active_learning.py                     # full run (5 seeds): table, PNG, JSON
    python benchmarks/active_learning.py --seeds 1 --until 1000   # quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: the numbers must not depend on the machine's size
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline import active  # noqa: E402
from pipeline.sampling import order_key  # noqa: E402
from schemas.labels import DOCUMENT_TYPES, DOMAINS, SCORES  # noqa: E402

log = logging.getLogger("active_learning")

DEFAULT_INPUT = Path("/work/shared/annotation/reference-labels.jsonl")
FALLBACK_INPUT = REPO / "tests/data/annotation/reference-labels.jsonl"
HEADS = {"document_type": DOCUMENT_TYPES, "domain": DOMAINS, "educational_score": SCORES}
STRATEGIES = ("random", "uncertainty", "diverse")


@dataclass
class Corpus:
    texts: list[str]
    ids: list[str]
    articles: list[str]
    labels: dict[str, np.ndarray]  # head -> class index per row
    x: object  # sparse hashed features
    svd: np.ndarray  # (n, 64) dense features for k-center


def load_corpus(path: Path) -> Corpus:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    counts = HashingVectorizer(n_features=2 ** 18, ngram_range=(1, 2), alternate_sign=False, norm=None,
                               lowercase=True).transform(texts)
    x = TfidfTransformer(sublinear_tf=True).fit_transform(counts).tocsr()
    svd = TruncatedSVD(64, random_state=0).fit_transform(x).astype(np.float32)
    labels = {h: np.array([list(classes).index(r[h]) for r in rows]) for h, classes in HEADS.items()}
    return Corpus(texts, [str(r["id"]) for r in rows], [r["source"].split("#")[0] for r in rows], labels, x, svd)


def split_articles(corpus: Corpus, seed: int, test_share: float = 0.3, case_share: float = 0.4
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Pool and test row indices, whole articles on each side. Clinical cases are few and bunched
    (in the reference labels 31 of 42 sit in one article), so articles holding them go to test in a
    seeded order only while test keeps at most ``case_share`` of them: the rest teach the pool.
    Other articles go to test in a seeded order until ``test_share`` of the rows is reached."""
    clinical = DOCUMENT_TYPES.index("clinical_case")
    rows_of: dict[str, list[int]] = {}
    for i, a in enumerate(corpus.articles):
        rows_of.setdefault(a, []).append(i)
    cases = {a: sum(corpus.labels["document_type"][i] == clinical for i in rs) for a, rs in rows_of.items()}
    total_cases = sum(cases.values())
    test: set[str] = set()
    n_cases = 0
    for a in sorted((a for a, c in cases.items() if c), key=lambda a: order_key(seed, a)):
        if n_cases + cases[a] <= case_share * total_cases:
            test.add(a)
            n_cases += cases[a]
    target = test_share * len(corpus.texts)
    n_test = sum(len(rows_of[a]) for a in test)
    for a in sorted((a for a, c in cases.items() if not c), key=lambda a: order_key(seed, a)):
        if n_test >= target:
            break
        if n_test + len(rows_of[a]) > target * 1.15:
            continue  # a huge article would overshoot: leave it in the pool
        test.add(a)
        n_test += len(rows_of[a])
    test_rows = np.array(sorted(i for a in test for i in rows_of[a]))
    pool_rows = np.array(sorted(set(range(len(corpus.texts))) - set(test_rows.tolist())))
    return pool_rows, test_rows


def train_student(corpus: Corpus, rows: np.ndarray, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    models = {}
    for head, classes in HEADS.items():
        y = corpus.labels[head][rows]
        if len(set(y.tolist())) < 2:
            models[head] = ("constant", int(y[0]), len(classes))
            continue
        m = OneVsRestClassifier(LogisticRegression(C=4.0, solver="liblinear", class_weight="balanced",
                                                   random_state=seed, max_iter=200))
        m.fit(corpus.x[rows], y)
        models[head] = ("lr", m, len(classes))
    return models


def predict_probs(models: dict, corpus: Corpus, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-head probabilities in the schema's class order (classes the student never saw get 0)."""
    out = {}
    for head, (kind, m, k) in models.items():
        p = np.zeros((len(rows), k))
        if kind == "constant":
            p[:, m] = 1.0
        else:
            p[:, m.classes_] = m.predict_proba(corpus.x[rows])
        out[head] = p
    return out


def evaluate(models: dict, corpus: Corpus, test: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score

    probs = predict_probs(models, corpus, test)
    t_true, t_pred = corpus.labels["document_type"][test], probs["document_type"].argmax(1)
    d_true, d_pred = corpus.labels["domain"][test], probs["domain"].argmax(1)
    clinical = DOCUMENT_TYPES.index("clinical_case")
    return {
        "type_macro_f1": float(f1_score(t_true, t_pred, labels=range(len(DOCUMENT_TYPES)), average="macro",
                                        zero_division=0)),
        "domain_macro_f1": float(f1_score(d_true, d_pred, labels=range(len(DOMAINS)), average="macro",
                                          zero_division=0)),
        "clinical_case_f1": float(f1_score(t_true == clinical, t_pred == clinical, zero_division=0)),
    }


def next_batch(strategy: str, models: dict, corpus: Corpus, labelled: np.ndarray, unlabelled: np.ndarray,
               size: int, seed: int, random_share: float, candidates: int, method: str = "entropy",
               head_weights: dict[str, float] | None = None) -> np.ndarray:
    ids = [corpus.ids[i] for i in unlabelled]
    if strategy == "random":
        chosen = active.select_random(ids, size, seed)
    else:
        scores = active.uncertainty(predict_probs(models, corpus, unlabelled), method, head_weights)
        if strategy == "uncertainty":
            chosen = active.select_uncertain(ids, scores, size, random_share, seed)
        else:
            chosen = active.select_diverse(ids, scores, corpus.svd[unlabelled], size, corpus.svd[labelled],
                                           random_share, candidates, seed)
    return unlabelled[[i for i, _ in chosen]]


def simulate(corpus: Corpus, seed: int, strategies=STRATEGIES, start: int = 500, step: int = 250,
             until: int = 2000, random_share: float = 0.1, candidates: int = 4, method: str = "entropy",
             head_weights: dict[str, float] | None = None) -> dict:
    """One seed: {strategy: [{"labels": n, metrics...}, ...]} plus the split's sizes."""
    pool, test = split_articles(corpus, seed)
    ordered = pool[active._hash_order([corpus.ids[i] for i in pool], seed)]
    first = ordered[:start]
    curves = {}
    for strategy in strategies:
        labelled = first.copy()
        curve = []
        while True:
            models = train_student(corpus, labelled, seed)
            curve.append({"labels": int(len(labelled)), **evaluate(models, corpus, test)})
            if len(labelled) >= until:
                break
            taken = set(labelled.tolist())
            unlabelled = np.array([i for i in pool if i not in taken])
            batch = next_batch(strategy, models, corpus, labelled, unlabelled, min(step, until - len(labelled)),
                               seed, random_share, candidates, method, head_weights)
            assert not set(batch.tolist()) & taken  # never labels a paragraph twice
            labelled = np.concatenate([labelled, batch])
        curves[strategy] = curve
    clinical = DOCUMENT_TYPES.index("clinical_case")
    return {"seed": seed, "pool": int(len(pool)), "test": int(len(test)),
            "test_articles": len({corpus.articles[i] for i in test}),
            "test_clinical_cases": int((corpus.labels["document_type"][test] == clinical).sum()), "curves": curves}


def summarise(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds per strategy and budget, and the target check."""
    metrics = ("type_macro_f1", "domain_macro_f1", "clinical_case_f1")
    table: dict[str, list[dict]] = {}
    for strategy in runs[0]["curves"]:
        points = []
        for k, point in enumerate(runs[0]["curves"][strategy]):
            row = {"labels": point["labels"]}
            for m in metrics:
                vals = np.array([r["curves"][strategy][k][m] for r in runs])
                row[m] = round(float(vals.mean()), 4)
                row[f"{m}_sd"] = round(float(vals.std()), 4)
            points.append(row)
        table[strategy] = points
    check = {}
    if "random" in table:
        goal = table["random"][-1]["type_macro_f1"]
        for strategy, points in table.items():
            if strategy == "random":
                continue
            reach = next((p["labels"] for p in points if p["type_macro_f1"] >= goal), None)
            clinical_higher = all(p["clinical_case_f1"] > r["clinical_case_f1"]
                                  for p, r in zip(points[1:], table["random"][1:]))  # after the shared start
            check[strategy] = {"labels_to_reach_random_final_type_f1": reach,
                               "reaches_with_at_most_1200": reach is not None and reach <= 1200,
                               "clinical_f1_higher_at_every_budget": clinical_higher}
        check["random_final_type_macro_f1"] = goal
    return {"table": table, "target": check}


def markdown(summary: dict) -> str:
    strategies = list(summary["table"])
    budgets = [p["labels"] for p in summary["table"][strategies[0]]]
    lines = []
    for metric, title in (("type_macro_f1", "document_type macro-F1"), ("domain_macro_f1", "domain macro-F1"),
                          ("clinical_case_f1", "clinical_case F1")):
        lines.append(f"**{title}** (mean ± sd over seeds, held-out articles)\n")
        lines.append("| labels | " + " | ".join(strategies) + " |")
        lines.append("|---:|" + "---:|" * len(strategies))
        for k, n in enumerate(budgets):
            cells = [f"{summary['table'][s][k][metric]:.3f} ± {summary['table'][s][k][metric + '_sd']:.3f}"
                     for s in strategies]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (metric, title) in zip(axes, (("type_macro_f1", "document_type macro-F1"),
                                          ("domain_macro_f1", "domain macro-F1"),
                                          ("clinical_case_f1", "clinical_case F1"))):
        for strategy, points in summary["table"].items():
            x = [p["labels"] for p in points]
            y = np.array([p[metric] for p in points])
            sd = np.array([p[metric + "_sd"] for p in points])
            ax.plot(x, y, marker="o", label=strategy)
            ax.fill_between(x, y - sd, y + sd, alpha=0.15)
        ax.set_title(title)
        ax.set_xlabel("labels used")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=Path, default=DEFAULT_INPUT if DEFAULT_INPUT.exists() else FALLBACK_INPUT)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--start", type=int, default=500)
    p.add_argument("--step", type=int, default=250)
    p.add_argument("--until", type=int, default=2000)
    p.add_argument("--random-share", type=float, default=0.1)
    p.add_argument("--candidates", type=int, default=4, help="diverse: k-center over candidates × batch most uncertain")
    p.add_argument("--uncertainty", choices=["entropy", "margin"], default="entropy")
    p.add_argument("--head-weights", default="",
                   help="how the heads' uncertainties combine, e.g. document_type=1,domain=0,educational_score=0 "
                        "(default: equal)")
    p.add_argument("--out", type=Path, default=Path("active_learning_results"),
                   help="folder for results.json, table.md and curves.png")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    weights = {k: float(v) for k, v in (kv.split("=") for kv in args.head_weights.split(",") if kv)} or None
    corpus = load_corpus(args.input)
    runs = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        runs.append(simulate(corpus, seed, STRATEGIES, args.start, args.step, args.until, args.random_share,
                             args.candidates, args.uncertainty, weights))
        log.info("seed %d: pool %d, test %d rows (%d articles, %d clinical cases) in %.1f s", seed,
                 runs[-1]["pool"], runs[-1]["test"], runs[-1]["test_articles"], runs[-1]["test_clinical_cases"],
                 time.perf_counter() - t0)
    summary = summarise(runs)
    summary.update({"seeds": args.seeds, "start": args.start, "step": args.step, "until": args.until,
                    "random_share": args.random_share, "candidates": args.candidates, "input": str(args.input),
                    "uncertainty": args.uncertainty, "head_weights": weights,
                    "elapsed_s": round(time.perf_counter() - started, 1),
                    "splits": [{k: r[k] for k in ("seed", "pool", "test", "test_articles", "test_clinical_cases")}
                               for r in runs]})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({**summary, "runs": runs}, indent=2) + "\n")
    table = markdown(summary)
    (args.out / "table.md").write_text(table + "\n")
    plot(summary, args.out / "curves.png")
    print(table)
    print(json.dumps(summary["target"], indent=2))
    print(f"elapsed {summary['elapsed_s']} s; written to {args.out}/")


if __name__ == "__main__":
    main()
