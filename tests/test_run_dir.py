"""Run directories: a failed or refused fit never destroys a run; resume logs each epoch once; corrupt files
give one-line errors. Backend-neutral (run on torch)."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from keras_clx import run_dir
from keras_clx.cli import main

DEMO = ["recipes/demo.py", "--set", "model.sequence_length=16", "--set", "model.vocabulary_size=300",
        "--set", "train.epochs=1", "--set", "train.batch_size=16"]


def invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *args])


def snapshot(directory):
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def fake_run(directory, interrupted=False):
    """A run directory with recognisable bytes: finished, or an interrupted self-training run."""
    from keras_clx.recipes import load_recipe

    directory.mkdir(parents=True)
    load_recipe("recipes/demo.py", ["train.self_training.enabled=true"]).to_json(directory / run_dir.RECIPE)
    (directory / run_dir.LABELS).write_text('{"labels": ["a", "b"]}')
    if interrupted:
        (directory / run_dir.SELF_TRAINING).mkdir()
        (directory / run_dir.SELF_TRAINING / run_dir.STATE_FILE).write_text('{"completed_round": 1}')
        (directory / run_dir.SELF_TRAINING / "round1-last.npz").write_bytes(b"weights")
    else:
        (directory / run_dir.MODEL).write_bytes(b"model bytes")
        (directory / run_dir.METRICS).write_text("{}")
    return snapshot(directory)


def test_overwrite_with_a_missing_data_file_leaves_the_old_run_byte_identical(tmp_path):
    before = fake_run(tmp_path / "run")
    result = invoke("fit", "mtod", "--data-dir", str(tmp_path / "nodata"), "--out", str(tmp_path / "run"),
                    "--overwrite")
    assert result.exit_code == 2 and result.output.startswith("error: ")
    assert snapshot(tmp_path / "run") == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging directory left


def test_a_plain_fit_is_refused_on_an_interrupted_self_training_run(tmp_path):
    before = fake_run(tmp_path / "run", interrupted=True)
    result = invoke("fit", *DEMO, "--set", "train.self_training.enabled=true", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "pass --resume" in result.output
    assert snapshot(tmp_path / "run") == before


def test_overwrite_with_a_bad_option_leaves_weights_and_state_intact(tmp_path):
    before = fake_run(tmp_path / "run", interrupted=True)
    result = invoke("fit", *DEMO, "--set", "data.options={'no_such_option': 1}", "--out", str(tmp_path / "run"),
                    "--overwrite")
    assert result.exit_code == 2 and result.output.startswith("error: "), result.output
    assert snapshot(tmp_path / "run") == before


def test_a_failed_fit_leaves_no_directory(tmp_path):
    result = invoke("fit", "mtod", "--data-dir", str(tmp_path / "nodata"), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_stale_staging_of_a_dead_process_is_cleaned_and_a_resumable_one_kept(tmp_path):
    dead = tmp_path / ".run.partial-999999999"
    dead.mkdir()
    (dead / "half.txt").write_text("x")
    fake_run(tmp_path / ".run.partial-999999998", interrupted=True)
    [kept] = run_dir.stale_resumable(tmp_path / "run")
    assert kept.name == ".run.partial-999999998" and not dead.exists()
    assert run_dir.resumable_run(tmp_path / "run").path == kept


def test_trim_training_log_keeps_the_epochs_before_the_resumed_one(tmp_path):
    log = tmp_path / run_dir.TRAINING_LOG
    log.write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n")
    run_dir.trim_training_log(log, 2)
    assert log.read_text() == "epoch,loss\n0,1.0\n1,0.9\n"


@pytest.mark.parametrize("name, content", [(run_dir.LABELS, "{not json"), (run_dir.RECIPE, "[1, 2")])
def test_corrupt_files_give_one_line_errors(tmp_path, name, content):
    fake_run(tmp_path / "run")
    (tmp_path / "run" / name).write_text(content)
    for args in (["evaluate", str(tmp_path / "run")], ["predict", str(tmp_path / "run"), "--text", "x"]):
        result = invoke(*args)
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert name in result.output and "corrupt" in result.output


def test_a_truncated_model_gives_a_one_line_error(tmp_path):
    from keras_clx import experiment
    from keras_clx.errors import ClxError

    fake_run(tmp_path / "run")
    (tmp_path / "run" / run_dir.LABELS).write_text('{"labels": ["a", "b"]}')
    with pytest.raises(ClxError, match="model.keras is corrupt") as error:
        experiment.load_run(tmp_path / "run")
    assert "\n" not in str(error.value)
