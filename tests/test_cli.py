"""The CLI end to end on a tiny demo run, and its one-line errors for bad input."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from keras_clx.cli import main
from tests.helpers import TINY_DATA, TINY_OVERRIDES, mtod_row, set_args
from tests.helpers import invoke_cli as invoke

TINY = set_args([TINY_DATA, *TINY_OVERRIDES])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("fit", "recipes/demo.py", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "target avg" in result.output and "far" in result.output
    return out


def test_fit_writes_a_complete_run_directory(run_dir):
    for name in [
        "recipe.json",
        "labels.json",
        "model.keras",
        "metrics.json",
        "report.md",
        "report.csv",
        "training_log.csv",
    ]:
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [row["language"] for row in metrics["languages"]] == ["source", "near", "mid", "far"]
    assert 0 <= metrics["target_average"]["accuracy"] <= 1
    assert json.loads((run_dir / "recipe.json").read_text())["train"]["epochs"] == 1


def test_evaluate_reproduces_the_fit_report(run_dir):
    result = invoke("evaluate", str(run_dir))
    assert result.exit_code == 0, result.output
    written = json.loads((run_dir / "report-test.json").read_text())
    original = json.loads((run_dir / "report.json").read_text())
    for new, old in zip(written["languages"], original["languages"]):
        assert new["metrics"]["accuracy"] == pytest.approx(old["metrics"]["accuracy"], abs=1e-6)


def test_predict_prints_json_lines(run_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("first text here\n\nsecond one\n")
    result = invoke("predict", str(run_dir), "--text", "hello there", "--input", str(texts))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [r["text"] for r in rows] == ["hello there", "first text here", "second one"]
    labels = json.loads((run_dir / "labels.json").read_text())["labels"]
    for row in rows:
        assert row["label"] in labels
        assert row["probability"] == pytest.approx(max(row["probabilities"].values()))
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_refuses_to_overwrite_a_run(run_dir):
    result = invoke("fit", "recipes/demo.py", *TINY, "--out", str(run_dir))
    assert result.exit_code == 2
    assert "already holds a run" in result.output
    assert (run_dir / "model.keras").is_file()


def test_recipes_lists_bundled_recipes():
    result = invoke("recipes")
    assert result.exit_code == 0
    assert "demo" in result.output and "mtod" in result.output


def _mtod_tree(tmp_path, rows_en, rows_es):
    root = tmp_path / "multilingual_task_oriented_dialog"
    for lang, rows in (("en", rows_en), ("es", rows_es)):
        (root / lang).mkdir(parents=True)
        for split in ("train", "eval", "test"):
            (root / lang / f"{split}-{lang}.tsv").write_text("".join(r + "\n" for r in rows))
    return tmp_path


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "recipes/demo.py", "--set", "train.epoch=1"], "did you mean 'train.epochs'"),
        (["fit", "recipes/nope.py"], "recipe file 'recipes/nope.py' not found"),
        (["fit", "recipes/demo.py", "--set", "model.backbone=bert_tnyi"], "unknown backbone 'bert_tnyi'"),
        (["evaluate", "/nonexistent/run"], "is not a complete run directory"),
        (["predict", "/nonexistent/run", "--text", "x"], "is not a complete run directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message, tmp_path):
    result = invoke(*args, *(["--out", str(tmp_path / "r")] if args[0] == "fit" else []))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_data_errors_name_file_and_line(tmp_path):
    good = [mtod_row("alarm/set_alarm", text="set an alarm"), mtod_row("weather/find", text="rain today")] * 10
    data = _mtod_tree(tmp_path, good + ["alarm/set_alarm\tonly two"], good)
    result = invoke("fit", "mtod", "--data-dir", str(data), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "eval-en.tsv:21:" in result.output

    data = _mtod_tree(tmp_path / "b", good, good + [mtod_row("music/play", text="pon musica", tag="es_XX")])
    result = invoke("fit", "mtod", "--data-dir", str(data), "--set", "data.targets=es", "--out", str(tmp_path / "r2"))
    assert result.exit_code == 2
    assert "label 'music/play'" in result.output and "es/" in result.output

    data = _mtod_tree(tmp_path / "c", [], good)
    result = invoke("fit", "mtod", "--data-dir", str(data), "--set", "data.targets=es", "--out", str(tmp_path / "r3"))
    assert result.exit_code == 2
    assert "empty" in result.output


def test_console_script_exits_2_without_traceback(tmp_path):
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "keras_clx.cli", "fit", str(tmp_path / "missing.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: ")


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "keras-clx" in result.output


@pytest.mark.one_backend
def test_an_unwritable_out_folder_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    result = invoke("fit", "recipes/demo.py", "--out", str(tmp_path / "afile" / "run"))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "afile" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (tmp_path / "afile").read_text() == "not a folder"


@pytest.mark.one_backend
def test_a_peer_failure_is_exit_code_4_and_a_refused_file_exit_code_2(monkeypatch, capsys):
    from keras_clx import cli_runtime
    from keras_clx.training import processes

    exits = []

    def record_exit(message, code, at_once):
        exits.append((message, code))
        raise SystemExit(code)

    monkeypatch.setattr(cli_runtime, "_exit", record_exit)
    monkeypatch.setattr(processes, "_current", processes.Processes(2, 0, "gloo", "127.0.0.1:1"))

    def failing(error):
        @cli_runtime.user_errors
        def command():
            raise error

        with pytest.raises(SystemExit):
            command()

    failing(ConnectionResetError("Connection reset by peer"))  # an OSError without a file: the other process
    failing(PermissionError(13, "Permission denied", "/srv/out"))
    failing(ValueError("a bug"))  # never through the engine's shutdown, which would wait for the others
    assert exits[0][1] == 4 and "another process failed" in exits[0][0]
    assert exits[1] == ("/srv/out: Permission denied", 2)
    assert exits[2] == ("process 0: unexpected ValueError (traceback above)", 1)
    assert "Traceback" in capsys.readouterr().err
