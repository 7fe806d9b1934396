"""Evaluation by article and the linear student, on the real reference labels (no Spark)."""

from __future__ import annotations

import json
import math
import tarfile

import numpy as np
import pyarrow as pa
import pytest

from classifiers.dataset import Examples, examples_from_table, read_table


@pytest.fixture(scope="module")
def ref(reference_labels) -> Examples:
    ex, _ = examples_from_table(read_table(reference_labels))
    return ex


def test_grouped_folds_hold_out_whole_articles_and_spread_clinical_cases(ref):
    from classifiers.crossval import article_groups, grouped_folds

    folds, desc = grouped_folds(ref, 5, seed=0)
    groups, how = article_groups(ref)
    assert how == "article" and desc["n_groups"] == len(set(groups.tolist()))
    seen = []
    for tr, te in folds:
        assert not set(groups[tr].tolist()) & set(groups[te].tolist())  # no article on both sides
        assert not {ref.key[i] for i in tr} & {ref.key[i] for i in te}  # nor any text
        seen += te
    assert sorted(seen) == list(range(len(ref)))
    clinical = [sum(ref.labels["document_type"][i] == "clinical_case" for i in te) for _, te in folds]
    assert sum(clinical) == 42 and sum(c > 0 for c in clinical) >= 3
    again, _ = grouped_folds(ref, 5, seed=0)
    assert again == folds  # deterministic


def test_articles_sharing_a_text_are_one_group_and_too_few_articles_is_a_user_error():
    from classifiers.crossval import article_groups, grouped_folds
    from pipeline.errors import UserError

    ex = Examples(text=["a", "b", "c", "d"], labels={"document_type": ["study"] * 4},
                  key=["k1", "k2", "k1", "k3"], group=["A", "B", "C", "C"])
    groups, _ = article_groups(ex)
    assert groups[0] == groups[2] == groups[3] and groups[1] != groups[0]  # A and C share text k1
    with pytest.raises(UserError, match="at least 5 articles"):
        grouped_folds(ex, 5)


def test_collections_by_path_by_name_and_by_data_folder_index(tmp_path):
    from classifiers.article_collections import collection_of, index_data_folder

    assert collection_of("pmc-oa-bulk/oa_comm/xml/oa_comm_xml.PMC000xxxxxx.tar.gz::PMC176545.xml") == "pmc_bulk"
    assert collection_of("jats-other/scielo/FngWzPqXpsVJGyxLD5PSHPg.xml") == "scielo"
    assert collection_of("elife00007.xml#0") == "elife"
    assert collection_of("0034-8910-rsp-48-2-0347.xml#0") == "scielo"
    assert collection_of("PMC6358576_PMC6358589.xml#3") == "europe_pmc"
    assert collection_of("PMC3310194.xml#0") == "pmc_bulk"
    assert collection_of("summary.xml#0") == "other" and collection_of(None) == "other"
    (tmp_path / "jats-other" / "scielo").mkdir(parents=True)
    (tmp_path / "jats-other" / "scielo" / "summary.xml").write_text("<article/>")
    (tmp_path / "jats-other" / "pmc-oai").mkdir()
    (tmp_path / "jats-other" / "pmc-oai" / "PMC7500000.xml").write_text("<article/>")
    bulk = tmp_path / "pmc-oa-bulk" / "oa_comm" / "xml"
    bulk.mkdir(parents=True)
    member = tmp_path / "PMC111.xml"
    member.write_text("<article/>")
    with tarfile.open(bulk / "oa_comm_xml.PMC000xxxxxx.tar.gz", "w:gz") as tar:
        tar.add(member, arcname="PMC000xxxxxx/PMC111.xml")
    index = index_data_folder(tmp_path)
    assert collection_of("summary.xml#0", index) == "scielo"
    assert collection_of("PMC7500000.xml#0", index) == "other"  # a loose PMC file, not the bulk
    assert collection_of("PMC111.xml#0", index) == "pmc_bulk"


def test_power_law_recovers_known_exponent_and_marks_extrapolation():
    from classifiers.crossval import power_law

    points = [{"n_labels": n, "type_f1": 1 - 2.0 * n ** -0.5, "score_mae": 3.0 * n ** -0.25}
              for n in (500, 1000, 1500, 2000)]
    fit = power_law(points, "type_f1")
    assert fit["b"] == pytest.approx(0.5, abs=1e-9) and fit["a"] == pytest.approx(2.0, rel=1e-9)
    assert fit["n_at_10x"] == 20000 and fit["at_10x_extrapolated"] == pytest.approx(1 - 2 * 20000 ** -0.5)
    mae = power_law(points, "score_mae")
    assert mae["at_10x_extrapolated"] == pytest.approx(3.0 * 20000 ** -0.25)
    assert power_law(points[:2], "type_f1") is None  # two points fit no curve


def test_linear_student_learns_by_article_and_round_trips(ref, tmp_path):
    from classifiers.crossval import evaluate_predictions, grouped_folds, headline
    from classifiers.linear_student import LinearStudent

    folds, _ = grouped_folds(ref, 5, seed=0)
    tr, te = folds[0]
    train, test = ref.take(tr), ref.take(te)
    model = LinearStudent.train(train, {"max_iter": 60}, ("section", "article_type"))
    h = headline(evaluate_predictions(model.predict(test.text, test.context), test))
    assert h["type_f1"] >= 0.55 and h["domain_f1"] >= 0.55 and h["score_mae"] <= 0.6
    model.save(tmp_path / "lin", extra={"student": "linear"})
    card = json.loads((tmp_path / "lin" / "student.json").read_text())
    assert card["kind"] == "linear" and card["version"].startswith("linear-")
    back = LinearStudent.load(tmp_path / "lin")
    a, b = model.predict(test.text, test.context), back.predict(test.text, test.context)
    assert np.allclose(a.document_type_scores, b.document_type_scores, atol=1e-6)
    assert np.allclose(a.domain_scores.sum(axis=1), 1, atol=1e-5)
    assert np.all((b.educational_score >= 1) & (b.educational_score <= 5))
    assert len(back.predict(test.text[:3])) == 3  # without context columns


def test_soft_targets_from_the_label_table_are_used_with_hard_fallback():
    from classifiers.linear_student import LinearStudent, target_matrix
    from classifiers.heads import DOCUMENT_TYPE

    texts = ["the patient presented with fever and cough"] * 2 + ["we measured soil carbon in plots"] * 2
    table = pa.table({
        "text": texts, "document_type": ["clinical_case", "clinical_case", "study", "study"],
        "domain": ["clinical", "clinical", "other", "other"], "educational_score": [3, 3, 2, 2],
        "document_type_probs": [[0.6, 0.4, 0.0, 0.0], None, [0.0, 1.0, 0.0, 0.0], [0.1, 0.7, 0.1, 0.1]],
        "source": ["a.xml#0", "a.xml#0", "b.xml#0", "c.xml#0"]})
    hard, _ = examples_from_table(table)
    soft, _ = examples_from_table(table, soft_targets=True)
    assert not hard.soft and soft.group == ["a.xml#0", "a.xml#0", "b.xml#0", "c.xml#0"]
    q = target_matrix(DOCUMENT_TYPE, soft)
    assert q[0].tolist() == pytest.approx([0.6, 0.4, 0, 0]) and q[1].tolist() == [1, 0, 0, 0]  # null → label
    m_hard = LinearStudent.train(hard, {"max_iter": 200, "n_features": 2 ** 12, "class_weights": False})
    m_soft = LinearStudent.train(soft, {"max_iter": 200, "n_features": 2 ** 12, "class_weights": False})
    p_hard = m_hard.predict(texts[:1]).document_type_scores[0]
    p_soft = m_soft.predict(texts[:1]).document_type_scores[0]
    assert p_soft[1] > p_hard[1] + 0.05  # the LLM's 0.4 on "study" moved the student
    assert m_soft.meta["n_soft_targets"]["document_type"] == 3
    assert not math.isnan(float(p_soft.sum()))


def test_auto_plans_by_hardware_and_picks_the_annotator_per_device():
    from classifiers.training import pick_annotators, plan_students
    from pipeline.errors import UserError

    cpu, why = plan_students("auto", "cpu")
    assert cpu == ["fasttext", "linear"] and "no GPU" in why
    gpu, why = plan_students("auto", "cuda")
    assert gpu == ["fasttext", "linear", "transformer", "distilled"] and "GPU" in why
    assert plan_students("cascade")[0] == ["transformer", "cascade"]
    with pytest.raises(UserError):
        plan_students("xgboost")
    pick = pick_annotators({"fasttext": 0.70, "linear": 0.72, "transformer": 0.80, "distilled": 0.78}, gpu)
    assert pick["cpu"] == "distilled" and pick["gpu"] == "transformer" and "0.800" in pick["reason"]


def test_expected_calibration_error_on_known_values():
    from classifiers.crossval import expected_calibration_error

    classes = ("a", "b")
    scores = np.array([[0.9, 0.1]] * 10)
    assert expected_calibration_error(scores, ["a"] * 9 + ["b"], classes) == pytest.approx(0.0)
    assert expected_calibration_error(scores, ["a"] * 5 + ["b"] * 5, classes) == pytest.approx(0.4)
    two = np.array([[0.6, 0.4]] * 4 + [[0.95, 0.05]] * 4)
    # bin 0.6: accuracy 0.5 vs 0.6; bin 0.95: accuracy 1.0 vs 0.95 → (0.1 + 0.05) / 2
    assert expected_calibration_error(two, ["a", "a", "b", "b"] + ["a"] * 4, classes) == pytest.approx(0.075)


def test_imported_labels_the_run_does_not_hold_are_still_grouped_by_article(ref, reference_labels):
    """Labels imported into a run keep their file's `source`: a row that matches no run paragraph
    (no article_id) is grouped by that source, and a matched row of the same article (the run's
    source path, or only its article id) falls in the same group."""
    from classifiers.crossval import article_groups
    from classifiers.labels import article_key

    assert article_key("pmc-oa-bulk/x.tar.gz::PMC010xxxxxx/PMC10146683.xml") == "PMC10146683"
    assert article_key("PMC10146683.xml#0") == article_key("PMC10146683") == "PMC10146683"
    table = read_table(reference_labels)
    n = table.num_rows
    # Every third row "matched" to a run article: the run's path; every fifth only an article id.
    src = table["source"].to_pylist()
    ids = [None] * n
    for i in range(0, n, 3):
        name = src[i].split("#")[0]
        src[i] = f"pmc-oa-bulk/oa_comm/xml/pkg.tar.gz::PMC000xxxxxx/{name}"
    for i in range(1, n, 5):
        ids[i], src[i] = src[i].split("#")[0].rsplit(".", 1)[0], None
    mixed = table.drop_columns(["source"]).append_column("source", pa.array(src, pa.string())) \
        .append_column("article_id", pa.array(ids, pa.string()))
    ex, _ = examples_from_table(mixed)
    groups, how = article_groups(ex)
    want, _ = article_groups(ref)
    assert how == "article"
    assert len(set(groups.tolist())) == len(set(want.tolist()))  # the same articles, none split
    assert (groups == want).all()


def test_folds_in_forked_processes_give_exactly_the_serial_figures(ref):
    """cv_jobs only changes the wall time: the same folds fitted in 2 forked processes give the
    same out-of-fold predictions, figures and order as one process."""
    from classifiers.crossval import cross_validate, grouped_folds
    from classifiers.fasttext_student import FastTextStudent
    from classifiers.linear_student import LinearStudent

    sub = ref.take(list(range(0, len(ref), 3)))
    folds, _ = grouped_folds(sub, 3, seed=0)
    params = {"epoch": 5, "bucket": 20_000}
    fits = {"fasttext": lambda train, fold: FastTextStudent.train(train, params, ("section",), 0.0, 0),
            "linear": lambda train, fold: LinearStudent.train(train, {"max_iter": 20}, ("section",), 0.0, 0)}
    serial = cross_validate(sub, fits, folds, jobs=1)
    forked = cross_validate(sub, fits, folds, jobs=2, independent=True)
    for name in fits:
        assert forked[name]["summary"] == serial[name]["summary"]
        assert forked[name]["pooled"] == serial[name]["pooled"]


def test_a_failing_forked_fit_raises_with_its_traceback():
    from classifiers.parallel import run_tasks

    def boom():
        raise ValueError("no rows in this fold")

    assert run_tasks([lambda: 1, lambda: 2, lambda: 3], jobs=2) == [1, 2, 3]
    with pytest.raises(RuntimeError, match="no rows in this fold"):
        run_tasks([lambda: 1, boom], jobs=2)

    from pipeline.errors import UserError

    def mistake():
        raise UserError("train.static.encoder: nowhere is not a checkpoint", hint="a local folder")

    with pytest.raises(UserError, match="nowhere is not a checkpoint") as caught:  # as if fitted here
        run_tasks([lambda: 1, mistake], jobs=2)
    assert caught.type is UserError and caught.value.hint == "a local folder"


def test_forked_fits_leave_the_spark_session_usable(spark, tmp_path):
    """`run` holds one Spark session while train forks its fits: no child may shut down a py4j
    socket the parent shares (it used to, and the next Spark call logged "connection reset")."""
    import os

    import py4j.clientserver as clientserver

    from classifiers.parallel import run_tasks

    parent, closed = os.getpid(), tmp_path / "closed-in-child"
    original = clientserver.ClientServerConnection.close

    def close(self, *args, **kwargs):
        if os.getpid() != parent:
            with closed.open("a") as out:
                out.write(f"{os.getpid()}\n")
        return original(self, *args, **kwargs)

    assert spark.sparkContext.parallelize(range(4), 2).count() == 4  # callback threads and their connections
    clientserver.ClientServerConnection.close = close
    try:
        assert run_tasks([lambda: 1, lambda: 2, lambda: 3], jobs=2) == [1, 2, 3]
    finally:
        clientserver.ClientServerConnection.close = original
    assert not closed.exists(), "a forked child closed the parent's py4j connections"
    assert spark.range(5).count() == 5
