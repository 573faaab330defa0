"""Run directories: a failed or refused fit never destroys a run; resume logs each epoch once; corrupt files
give one-line errors. Backend-neutral (run on torch)."""

import hashlib
import json

import pytest

from keras_clx import run_dir
from tests.helpers import TINY_OVERRIDES, set_args
from tests.helpers import invoke_cli as invoke

pytestmark = pytest.mark.one_backend

DEMO = ["recipes/demo.py", *set_args(TINY_OVERRIDES)]


def snapshot(directory):
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


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
    result = invoke(
        "fit", "mtod", "--data-dir", str(tmp_path / "nodata"), "--out", str(tmp_path / "run"), "--overwrite"
    )
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
    result = invoke(
        "fit", *DEMO, "--set", "data.options={'no_such_option': 1}", "--out", str(tmp_path / "run"), "--overwrite"
    )
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


def test_a_fit_killed_mid_epoch_leaves_the_older_run_byte_identical(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    before = fake_run(tmp_path / "run")
    command = [
        sys.executable,
        "-m",
        "keras_clx.cli",
        "--quiet",
        "fit",
        *DEMO,
        "--set",
        "train.epochs=50",
        "--out",
        str(tmp_path / "run"),
        "--overwrite",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    staging = tmp_path / f".run.partial-{process.pid}"
    deadline = time.time() + 240
    while not (staging / run_dir.LABELS).is_file() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # training has started: labels.json is written just before the model is compiled
    assert process.poll() is None, "the fit ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert snapshot(tmp_path / "run") == before
    assert staging.is_dir()  # the killed fit's partial run, beside the old one
    if run_dir.RunDir(staging).has_checkpoint:  # an epoch completed: --resume continues it
        assert run_dir.resumable_run(tmp_path / "run").path == staging
    else:
        assert run_dir.resumable_run(tmp_path / "run") is None  # no checkpoint: cleaned, not resumed
        assert not staging.exists()


def test_resume_logs_every_epoch_once(tiny_recipe, tmp_path):
    """Interrupted in the second epoch of the last round: the epoch logged after the last saved round
    is trained again on resume, and appears once in training_log.csv."""
    import keras

    from keras_clx import experiment
    from keras_clx.errors import ClxError

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    overrides = [
        "train.self_training.enabled=true",
        "train.self_training.epochs_per_round=2",
        "train.self_training.max_rounds=1",
        "train.self_training.k_per_class=2",
        "train.self_training.patience=5",
    ]
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        experiment.fit(tiny_recipe(*overrides), out, verbose=0, callbacks=[Interrupt()])
    log = run_dir.RunDir(out).training_log
    assert [line.split(",")[0] for line in log.read_text().splitlines()[1:]] == ["0", "1"]
    assert json.loads(run_dir.RunDir(out).state.read_text())["completed_round"] == 0
    with pytest.raises(ClxError, match="pass --resume"):
        experiment.fit(tiny_recipe(*overrides), out, verbose=0)
    run = experiment.fit(tiny_recipe(*overrides), out, verbose=0, resume=True)
    assert run.directory == out and run_dir.RunDir(out).is_finished
    assert [line.split(",")[0] for line in log.read_text().splitlines()[1:]] == ["0", "1", "2"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_fit_restores_the_dtype_policy():
    import keras

    from keras_clx import experiment

    saved = keras.config.dtype_policy().name
    with experiment.dtype_policy():
        keras.config.set_dtype_policy("mixed_bfloat16")
    assert keras.config.dtype_policy().name == saved
