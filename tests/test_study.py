"""Studies: the statistics against hand-computed values on run directories written here,
a real tiny study (2 variants x 2 seeds) that is interrupted and continues, the resume
decisions, and the one-line errors of bad --vary / --seeds."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from keras_clx import study as studies
from keras_clx.cli import main
from keras_clx.errors import ClxError
from keras_clx.evaluation import study_stats
from keras_clx.evaluation.entity_f1 import entity_counts, entity_scores
from keras_clx.evaluation.metrics import accuracy, macro_f1
from keras_clx.evaluation.report import LanguageResult, Report, read_outcomes
from keras_clx.study_report import row_order, study_report
from tests.helpers import TINY_OVERRIDES, target_example

TINY = [
    "data.options={'train_size': 32, 'dev_size': 8, 'test_size': 16, 'unlabeled_size': 16}",
    "data.targets=near,far",
    *TINY_OVERRIDES,
]


# === Statistics ===


def test_metrics_from_outcomes_equal_the_report_metrics():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, 200)
    pred = np.where(rng.random(200) < 0.6, true, rng.integers(0, 6, 200))
    scores = study_stats.score({"true": true, "pred": pred})
    assert scores["accuracy"] == pytest.approx(accuracy(true, pred))
    assert scores["macro_f1"] == pytest.approx(macro_f1(true, pred))


def test_entity_counts_per_sentence_sum_to_entity_scores():
    gold = [["B-T", "I-T", "O", "B-T"], ["B-T", "O", "B-T"], ["O", "O"], ["B-T"]]
    pred = [["B-T", "I-T", "O", "O"], ["B-T", "I-T", "I-T"], ["B-T", "O"], ["B-T"]]
    counts = entity_counts(gold, pred)
    assert counts.tolist() == [[1, 0, 1], [0, 1, 2], [0, 1, 0], [1, 0, 0]]
    tp, fp, fn = counts.T
    scores = study_stats.score({"tp": tp, "fp": fp, "fn": fn})
    expected = entity_scores(gold, pred)  # 2 of 4 predicted right, 2 of 5 gold found
    for name in ("precision", "recall", "f1"):
        assert scores[name] == pytest.approx(expected[name])
    assert scores["f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 3))


def test_token_task_records_entity_counts(monkeypatch):
    from keras_clx.data.records import LabelVocabulary
    from keras_clx.tasks import get_task

    task = get_task("token")
    examples = [
        target_example("good pizza here", "en", "a", (5, 10)),
        target_example("nice wine", "en", "b", (5, 9)),
    ]
    tags = [["B-TARGET", "B-TARGET", "O"], ["O", "O"]]
    monkeypatch.setattr(task, "predict_tags", lambda *args, **kwargs: [(None, t) for t in tags])
    metrics, outcomes = task.score_outcomes(None, examples, LabelVocabulary(["TARGET"]), 2)
    assert outcomes["ids"].tolist() == ["a", "b"]
    assert [outcomes[k].tolist() for k in ("tp", "fp", "fn")] == [[1, 0], [1, 0], [0, 1]]
    assert metrics["f1"] == pytest.approx(study_stats.score(outcomes)["f1"]) == pytest.approx(0.5)


def test_sign_test_is_the_exact_two_sided_binomial():
    assert study_stats.sign_test(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert study_stats.sign_test(3, 0) == pytest.approx(2 / 8)
    assert study_stats.sign_test(0, 0) == 1.0
    assert study_stats.sign_test(5, 5) == 1.0


def test_challenge_rows_follow_the_target_average():
    roles = [("en", "source"), ("es", "target"), ("en>es", "challenge"), ("th", "target")]
    summary = {"languages": [{"language": lang, "role": role} for lang, role in roles]}
    assert row_order(summary) == ["en", "es", "th", "target avg", "en>es"]


def test_entity_f1_has_no_sign_test():
    def tokens(tp, fp, fn):
        return {"tp": np.asarray(tp), "fp": np.asarray(fp), "fn": np.asarray(fn)}

    # baseline: each text one right span and one wrong one (F1 2/3); the variant predicts nothing:
    # the same error count per text (a wrong span became a missed one), yet F1 0
    baseline = tokens([1, 1, 1], [1, 1, 1], [0, 0, 0])
    silent = tokens([0, 0, 0], [0, 0, 0], [1, 1, 1])
    assert (study_stats.errors(silent) == study_stats.errors(baseline)).all()
    assert study_stats.score(silent)["f1"] < study_stats.score(baseline)["f1"]
    assert study_stats.paired_sign_test([(silent, baseline)])["p_value"] is None


def _seq(correct):
    correct = np.asarray(correct)
    return {
        "ids": np.asarray([str(i) for i in range(len(correct))]),
        "true": np.zeros(len(correct), int),
        "pred": np.where(correct == 1, 0, 1),
    }


def test_paired_bootstrap_intervals_by_enumeration():
    # one seed, two examples with paired differences (+1, 0): a resample's mean difference is
    # 0, 1/2 or 1 (p = 1/4, 1/2, 1/4), so the 95% percentile interval is [0, 1]
    result = study_stats.paired_bootstrap({"x": [(_seq([1, 1]), _seq([0, 1]))]}, "accuracy")
    assert result["x"] == {"difference": 0.5, "low": 0.0, "high": 1.0}
    # two seeds with constant differences +1 and 0: the seed draw alone gives 0, 1/2, 1
    pairs = [(_seq([1, 1, 1]), _seq([0, 0, 0])), (_seq([1, 0, 1]), _seq([1, 0, 1]))]
    result = study_stats.paired_bootstrap({"x": pairs}, "accuracy")
    assert result["x"] == {"difference": 0.5, "low": 0.0, "high": 1.0}
    # the same difference on every example: no spread
    pairs = [(_seq([1, 1, 0, 1]), _seq([0, 1, 0, 1]))]
    result = study_stats.paired_bootstrap({"x": pairs, "y": pairs}, "accuracy", average=["x", "y"])
    assert result["target avg"]["difference"] == pytest.approx(0.25)
    assert 0.0 <= result["x"]["low"] <= 0.25 <= result["x"]["high"] <= 0.75


# === Aggregation of run directories written here ===


def _write_cell(path, rows, recipe=None, seconds=None):
    report = Report(
        [LanguageResult(lang, role, "test", len(o["ids"]), study_stats.score(o), o) for lang, role, o in rows],
        ["accuracy", "macro_f1"],
        title="synthetic",
    )
    report.write(path)
    if recipe is not None:
        recipe.to_json(path / "recipe.json")
    if seconds is not None:
        (path / "metrics.json").write_text(json.dumps({"total_seconds": seconds}))


def test_named_variants_are_columns_and_combine_with_vary():
    plan = studies.make_plan(
        "demo",
        "0",
        ["train.epochs=1,2"],
        check=False,
        variants=["vanilla:", "adv+st: train.perturbation=adversarial train.self_training.enabled=true"],
    )
    assert [v.label for v in plan.variants] == [
        "vanilla epochs=1",
        "vanilla epochs=2",
        "adv+st epochs=1",
        "adv+st epochs=2",
    ]
    assert plan.variants[3].overrides == [
        "train.perturbation=adversarial",
        "train.self_training.enabled=true",
        "train.epochs=2",
    ]
    recipe = plan.cell_recipe(plan.variants[3], 0)
    assert recipe.train.perturbation == "adversarial" and recipe.train.self_training.enabled
    assert recipe.train.epochs == 2 and plan.variants[0].directory == "vanilla_epochs=1"


@pytest.mark.parametrize(
    "variants, message",
    [
        (["vanilla"], "is not of the form"),
        (["a: train.epochs=1", "a: train.epochs=2"], "--variant a: the name is given twice"),
        (["a: train.epochs"], "'train.epochs' is not key=value"),
        (["a b: train.epochs=1"], "the name must be"),
        (["a: train.perturbation=adversarail"], "train.perturbation must be one of"),
    ],
)
def test_bad_named_variants_name_the_variant(variants, message):
    with pytest.raises(ClxError, match=re.escape(message)):
        studies.make_plan("demo", "0", variants=variants, check=False)


# per seed, per language: which of 4 test examples are right
BASELINE = {
    0: {"a": [1, 1, 0, 0], "b": [1, 0, 0, 0]},
    1: {"a": [1, 1, 1, 0], "b": [1, 1, 0, 0]},
    2: {"a": [1, 1, 1, 0], "b": [1, 1, 0, 0]},
}
VARIANT = {0: {"a": [1, 1, 1, 0], "b": [1, 1, 0, 0]}, 1: {"a": [1, 1, 1, 1], "b": [1, 1, 0, 0]}}
SOURCE = [1, 1, 1, 0, 1]
SECONDS_BASELINE, SECONDS_VARIANT = {0: 100.0, 1: 110.0, 2: 150.0}, {0: 200.0}  # variant seed 1: no metrics.json


@pytest.fixture
def synthetic_study(tmp_path):
    """seeds 0-2, baseline finished on every seed, the variant on seeds 0 and 1 only."""
    plan = studies.make_plan("demo", "0,1,2", ["train.perturbation=none,random"], check=False)
    (tmp_path / studies.PLAN_FILE).write_text(json.dumps(plan.to_dict()))
    for variant, grid, seconds in zip(plan.variants, (BASELINE, VARIANT), (SECONDS_BASELINE, SECONDS_VARIANT)):
        for seed, by_language in grid.items():
            rows = [("src", "source", _seq(SOURCE))] + [(k, "target", _seq(v)) for k, v in by_language.items()]
            _write_cell(tmp_path / variant.directory / f"seed{seed}", rows, seconds=seconds.get(seed))
    return tmp_path


def test_study_report_means_stds_and_paired_differences(synthetic_study):
    summary = study_report(synthetic_study, samples=500)
    assert summary["cells"] == {"finished": 5, "total": 6, "missing": ["perturbation=random/seed2"]}
    assert [e["language"] for e in summary["languages"]] == ["src", "a", "b"]
    acc = summary["scores"]["accuracy"]
    base, var = "perturbation=none", "perturbation=random"
    # baseline a: 0.5, 0.75, 0.75
    assert acc["a"][base]["mean"] == pytest.approx(2 / 3)
    assert acc["a"][base]["std"] == pytest.approx((1 / 48) ** 0.5)
    # target average per seed: 0.375, 0.625, 0.625 (baseline); 0.625, 0.75 (variant)
    assert acc["target avg"][base]["mean"] == pytest.approx(1.625 / 3)
    assert acc["target avg"][var]["mean"] == pytest.approx(0.6875)
    assert acc["target avg"][var]["std"] == pytest.approx(0.125 / 2**0.5)
    assert acc["b"][var]["std"] == 0.0 and acc["src"][var]["mean"] == pytest.approx(0.8)
    diff = summary["differences"][var]["languages"]
    # paired on seeds 0 and 1: a +0.25 / +0.25, b +0.25 / 0
    assert diff["a"]["seeds"] == 2
    assert diff["a"]["accuracy"]["difference"] == pytest.approx(0.25)
    assert diff["b"]["accuracy"]["difference"] == pytest.approx(0.125)
    assert diff["target avg"]["accuracy"]["difference"] == pytest.approx(0.1875)
    assert diff["src"]["accuracy"] == {"difference": 0.0, "low": 0.0, "high": 0.0}
    # sign test: a 2 wins, b 1 win, pooled targets 3 wins, no losses
    assert (diff["a"]["wins"], diff["a"]["losses"], diff["a"]["ties"]) == (2, 0, 6)
    assert diff["a"]["p_value"] == pytest.approx(0.5)
    assert diff["b"]["p_value"] == pytest.approx(1.0)
    assert diff["target avg"]["wins"] == 3 and diff["target avg"]["p_value"] == pytest.approx(0.25)
    for language in ("a", "b", "target avg"):
        interval = diff[language]["accuracy"]
        assert interval["low"] <= interval["difference"] <= interval["high"]
    for name in ("study.md", "study.csv", "study.json", "study.png"):
        assert (synthetic_study / name).is_file()
    markdown = (synthetic_study / "study.md").read_text()
    assert "66.67 ± 14.43 (n=3)" in markdown and "+18.75 [" in markdown
    assert summary["seconds"][base] == {"mean": 120.0, "min": 100.0, "max": 150.0, "seeds": SECONDS_BASELINE}
    assert summary["seconds"][var]["mean"] == 200.0 and summary["seconds"][var]["seeds"] == {0: 200.0}
    wall_time = markdown.split("## Wall time")[1]
    assert [c.strip() for c in wall_time.split("| perturbation=none")[1].split("\n")[0].split("|")[1:4]] == [
        "120",
        "100-150",
        "3",
    ]


def test_report_command_aggregates_without_training(synthetic_study):
    result = CliRunner().invoke(main, ["study", "--report", str(synthetic_study), "--bootstrap-samples", "200"])
    assert result.exit_code == 0, result.output
    assert "5 of 6 cells finished" in result.output and "target avg" in result.output
    assert json.loads((synthetic_study / "study.json").read_text())["bootstrap_samples"] == 200


@pytest.mark.parametrize(
    "file, text, message",
    [
        ("perturbation=none/seed1/report.json", '{"broken', "seed1/report.json: not a report written by keras-clx"),
        ("perturbation=none/seed1/report.json", "{}", "KeyError: 'languages'"),
        ("plan.json", "garbage", "plan.json: not a study plan written by keras-clx"),
    ],
)
def test_a_damaged_study_file_is_one_line_naming_it(synthetic_study, file, text, message):
    (synthetic_study / file).write_text(text)
    result = CliRunner().invoke(main, ["study", "--report", str(synthetic_study)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_leave_one_out_token_cells_read_outcomes_from_sub_runs(tmp_path):
    plan = studies.make_plan("semeval_iw_multisource", "0", ["train.instance_weighting=none,cosine"], check=False)
    plan.primary_metric = "f1"
    (tmp_path / studies.PLAN_FILE).write_text(json.dumps(plan.to_dict()))

    def tokens(tp, fp, fn):
        return {"ids": np.asarray(["0", "1"]), "tp": np.asarray(tp), "fp": np.asarray(fp), "fn": np.asarray(fn)}

    by_variant = [
        {"es": tokens([1, 0], [1, 0], [0, 1]), "nl": tokens([2, 0], [0, 0], [0, 0])},
        {"es": tokens([1, 1], [0, 0], [0, 0]), "nl": tokens([1, 0], [0, 1], [1, 0])},
    ]
    for variant, by_language in zip(plan.variants, by_variant):
        cell = tmp_path / variant.directory / "seed0"
        rows = []
        for lang, o in by_language.items():
            scores = study_stats.score(o)
            result = LanguageResult(lang, "target", "test", 2, scores, o)
            Report([LanguageResult("en", "source", "test", 2, scores, o), result], list(scores)).write(cell / lang)
            rows.append(LanguageResult(lang, "target", "test", 2, scores))  # combined report: no outcomes
        Report(rows, ["precision", "recall", "f1"]).write(cell)
        (cell / "leave_one_out.json").write_text(json.dumps({t: {"directory": t} for t in by_language}))
    summary = study_report(tmp_path, samples=200)
    f1 = summary["scores"]["f1"]
    assert f1["es"]["instance_weighting=none"]["mean"] == pytest.approx(2 / 4)  # 2tp / (2tp + fp + fn)
    assert f1["nl"]["instance_weighting=cosine"]["mean"] == pytest.approx(2 / 4)
    diff = summary["differences"]["instance_weighting=cosine"]["languages"]
    assert diff["es"]["f1"]["difference"] == pytest.approx(1.0 - 0.5)
    assert diff["nl"]["f1"]["difference"] == pytest.approx(0.5 - 1.0)
    assert diff["es"]["p_value"] is None and diff["target avg"]["wins"] is None  # no sign test for entity F1
    assert "p=" not in (tmp_path / "study.md").read_text()
    assert summary["primary_metric"] == "f1" and "en" not in f1


# === Running ===


@pytest.mark.one_backend
@pytest.mark.slow
def test_a_tiny_study_runs_every_cell_and_continues_after_an_interrupt(tmp_path, monkeypatch, capfd):
    from keras_clx import experiment

    out = tmp_path / "study"
    real_fit, calls = experiment.fit, []

    def interrupted_fit(recipe, out_dir=None, **kwargs):
        calls.append((out_dir.relative_to(out).as_posix(), kwargs))
        if len(calls) == 3:  # killed in the middle of the third cell: a partial run directory
            out_dir.mkdir(parents=True)
            recipe.to_json(out_dir / "recipe.json")
            raise KeyboardInterrupt
        return real_fit(recipe, out_dir=out_dir, **kwargs)

    monkeypatch.setattr(experiment, "fit", interrupted_fit)
    args = {"seeds": [0, 1], "vary": ["train.perturbation=none,random"], "overrides": TINY, "samples": 200}
    with pytest.raises(KeyboardInterrupt):
        studies.run_study("demo", out, **args)
    # seed-major: every variant on seed 0, then on seed 1
    assert "[cell 3/4] perturbation=none seed=1" in capfd.readouterr().err
    assert [p for p, _ in calls[:2]] == ["perturbation=none/seed0", "perturbation=random/seed0"]
    finished = {p: (out / p / "report.json").stat().st_mtime_ns for p, _ in calls[:2]}
    assert studies.cell_state(out / "perturbation=none/seed1") == "rerun"

    calls.clear()
    monkeypatch.setattr(
        experiment,
        "fit",
        lambda recipe, out_dir=None, **kw: (
            calls.append((out_dir.relative_to(out).as_posix(), kw)),
            real_fit(recipe, out_dir=out_dir, **kw),
        )[1],
    )
    summary = studies.run_study("demo", out, **args)
    assert [p for p, _ in calls] == ["perturbation=none/seed1", "perturbation=random/seed1"]
    assert calls[0][1]["overwrite"] and not calls[0][1]["resume"]
    assert "(done, skipped)" in capfd.readouterr().err
    assert {p: (out / p / "report.json").stat().st_mtime_ns for p in finished} == finished
    assert summary["cells"]["finished"] == 4
    for seed in (0, 1):
        cell = out / "perturbation=random" / f"seed{seed}"
        assert json.loads((cell / "recipe.json").read_text())["train"]["seed"] == seed
        report = json.loads((cell / "report.json").read_text())
        outcomes = read_outcomes(cell / "outcomes.npz")
        for row in report["languages"]:
            assert study_stats.score(outcomes[row["language"]])["accuracy"] == pytest.approx(row["metrics"]["accuracy"])
            scores = summary["scores"]["accuracy"][row["language"]]["perturbation=random"]
            assert scores["seeds"][seed] == pytest.approx(row["metrics"]["accuracy"])
    assert set(summary["differences"]["perturbation=random"]["languages"]) == {"source", "near", "far", "target avg"}
    assert (out / "study.png").stat().st_size > 0


def test_interrupted_self_training_cells_resume_and_finished_cells_must_match(tmp_path, monkeypatch):
    from keras_clx import experiment

    out = tmp_path / "study"
    plan = studies.make_plan("demo", "0", ["train.self_training.enabled=false,true"], TINY)
    done, interrupted = (path for _, _, path in plan.cells(out))
    _write_cell(done, [("near", "target", _seq([1, 0]))], plan.cell_recipe(plan.variants[0], 0))
    (interrupted / "self_training").mkdir(parents=True)
    (interrupted / "self_training" / "state.json").write_text("{}")
    plan.cell_recipe(plan.variants[1], 0).to_json(interrupted / "recipe.json")
    assert studies.cell_state(done) == "complete" and studies.cell_state(interrupted) == "resume"
    assert studies.cell_state(tmp_path / "nothing") == "new"

    calls = []
    monkeypatch.setattr(experiment, "fit", lambda recipe, out_dir=None, **kw: calls.append((out_dir, kw)))
    summary = studies.run_study(
        "demo", out, seeds=[0], vary=["train.self_training.enabled=false,true"], overrides=TINY, verbose=0, samples=100
    )
    assert [(path, kw["resume"], kw["overwrite"]) for path, kw in calls] == [(interrupted, True, False)]
    assert summary["cells"]["missing"] == ["self_training.enabled=true/seed0"]

    # a cell run before a setting existed (here: without train.code_switch.join_unspaced) is the same recipe
    older = json.loads((done / "recipe.json").read_text())
    del older["train"]["code_switch"]["join_unspaced"]
    (done / "recipe.json").write_text(json.dumps(older))
    calls.clear()
    studies.run_study(
        "demo", out, seeds=[0], vary=["train.self_training.enabled=false,true"], overrides=TINY, verbose=0
    )
    assert [path for path, _ in calls] == [interrupted]
    older["train"]["code_switch"]["retired_setting"] = 1  # one since removed is another recipe
    (done / "recipe.json").write_text(json.dumps(older))
    with pytest.raises(ClxError, match="was run with another recipe"):
        studies.run_study("demo", out, seeds=[0], vary=["train.self_training.enabled=false,true"], overrides=TINY)
    del older["train"]["code_switch"]["retired_setting"]
    (done / "recipe.json").write_text(json.dumps(older))

    with pytest.raises(ClxError, match="was run with another recipe"):
        studies.run_study(
            "demo",
            out,
            seeds=[0],
            vary=["train.self_training.enabled=false,true"],
            overrides=[*TINY, "train.epochs=2"],
            verbose=0,
        )


# === Errors ===


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vary", "train.perturbaton=none,adversarial"], "--vary train.perturbaton=none: unknown recipe key"),
        (["--vary", "train.epochs=1,two"], "--vary train.epochs=two: recipe key 'train.epochs' expects an integer"),
        (["--vary", "train.epsilon=1", "--vary", "train.epsilon=2"], "--vary train.epsilon: the key is given twice"),
        (["--vary", "train.perturbation="], "--vary train.perturbation: needs a non-empty list"),
        (["--vary", "train.perturbation=none,none"], "--vary train.perturbation: a value is listed twice"),
        (["--vary", "train.seed=1,2"], "--vary train.seed: give the seeds with --seeds"),
        (["--vary", "train.epochs=1,2", "--set", "train.epochs=3"], "--vary train.epochs: the key is also given"),
        (["--seeds", "0,1,x"], "--seeds must be comma-separated integers"),
        (["--seeds", ""], "--seeds must be comma-separated integers"),
        (
            ["--vary", "train.perturbation=none,adversarail"],
            "--vary train.perturbation=adversarail: train.perturbation must be one of",
        ),
    ],
)
def test_bad_vary_and_seeds_are_one_line_errors_before_training(args, message, tmp_path):
    out = tmp_path / "study"
    result = CliRunner().invoke(main, ["--quiet", "study", "demo", *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output and not out.exists()


def test_recipe_or_report_is_required():
    result = CliRunner().invoke(main, ["study"])
    assert result.exit_code == 2 and result.output.startswith("error: give a RECIPE")
    assert studies.split_values("a,[b,c],'d,e'") == ["a", "[b,c]", "'d,e'"]
