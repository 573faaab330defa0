"""Masked-LM pretraining: sampling rates, masking, loss, resumption, the preset it writes, `fit` chaining."""

import functools
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from keras_clx.cli import main
from keras_clx.pretraining.masking import mask_tokens
from keras_clx.pretraining.sampling import sample_epoch, sampling_rates
from tests.helpers import REPO_ROOT, TINY_OVERRIDES, set_args, tiny_demo_recipe

PRETRAIN = [
    "model.pretrain.epochs=2",
    "model.pretrain.steps_per_epoch=8",
    "model.pretrain.batch_size=16",
    "model.pretrain.learning_rate=3e-3",
    "model.pretrain.warmup_ratio=0",
    "model.pretrain.max_heldout=16",
]


def test_sampling_rates_follow_the_exponentiated_formula():
    counts = {"en": 10_000, "es": 1_000, "th": 100}
    for alpha in (0.0, 0.3, 0.7, 1.0):
        rates = sampling_rates(counts, alpha)
        norm = sum(n**alpha for n in counts.values())
        for lang, n in counts.items():
            assert rates[lang] == pytest.approx(n**alpha / norm)
    assert sampling_rates(counts, 0.0)["th"] == pytest.approx(1 / 3)
    rates = sampling_rates(counts, 0.7)
    chosen, indices = sample_epoch(counts, rates, 200_000, np.random.default_rng(0))
    observed = np.bincount(chosen, minlength=3) / len(chosen)
    np.testing.assert_allclose(observed, [rates[lang] for lang in counts], atol=0.005)
    sizes = np.array(list(counts.values()))
    assert (indices < sizes[chosen]).all() and (indices >= 0).all()


def test_masking_is_seeded_and_skips_special_and_padding_tokens():
    ids = np.array([[1, 7, 8, 9, 10, 11, 12, 13, 14, 2, 0, 0]] * 4)
    mask = ids != 0
    options = dict(rate=0.25, mask_token_id=4, special_ids=[0, 1, 2, 3, 4], vocabulary_size=20)
    a = mask_tokens(ids, mask, np.random.default_rng(1), **options)
    b = mask_tokens(ids, mask, np.random.default_rng(1), **options)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    masked, positions, labels, weights = a
    assert weights.shape == (4, 3) and (weights.sum(axis=1) == 2).all()  # round(0.25 * 8) of 8 maskable
    picked = positions[weights > 0]
    assert ((picked >= 1) & (picked <= 8)).all()
    np.testing.assert_array_equal(labels[weights > 0], ids[0][picked])
    np.testing.assert_array_equal(masked[:, [0, 9, 10, 11]], ids[:, [0, 9, 10, 11]])


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, request):
    """An uninterrupted two-epoch pretraining of a tiny BERT on the tiny demo corpus."""
    from keras_clx.pretraining import pretrain

    tiny_recipe = request.getfixturevalue("tiny_recipe_module")
    out = tmp_path_factory.mktemp("pretrain") / "full"
    return pretrain(tiny_recipe(*PRETRAIN), out, verbose=0)


@pytest.fixture(scope="module")
def tiny_recipe_module():
    return functools.partial(tiny_demo_recipe, unlabeled_size=64)


def test_mlm_loss_falls_and_every_language_is_scored(pretrained):
    assert pretrained.complete
    assert pretrained.losses[-1]["loss"] < pretrained.losses[0]["loss"] - 0.05, pretrained.losses
    report = json.loads((pretrained.directory / "pretrain.json").read_text())
    assert set(report["heldout_masked_accuracy"]) == {"source", "near", "mid", "far"}
    assert all(0 <= v <= 1 for v in report["heldout_masked_accuracy"].values())
    counts = report["texts"]
    expected = sampling_rates(counts, 0.7)
    assert report["rates"] == pytest.approx(expected)
    assert counts["source"] > counts["near"]  # 96 training texts vs 64 unlabelled (less the held-out part)


def _weights(path):
    values = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, item: values.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return values


def test_resumed_pretraining_reaches_the_uninterrupted_weights(pretrained, tiny_recipe_module, tmp_path):
    from keras_clx.pretraining import pretrain

    out = tmp_path / "resumed"
    recipe = tiny_recipe_module(*PRETRAIN)
    first = pretrain(recipe, out, verbose=0, stop_after_epoch=1)
    assert not first.complete and not (out / "config.json").exists()
    with pytest.raises(Exception, match="--resume"):
        pretrain(recipe, out, verbose=0)
    pretrain(recipe, out, verbose=0, resume=True)
    full = _weights(pretrained.directory / "checkpoints" / "epoch-2.weights.h5")
    resumed = _weights(out / "checkpoints" / "epoch-2.weights.h5")
    assert full.keys() == resumed.keys() and any("optimizer" in k for k in full)
    for name in full:
        np.testing.assert_allclose(resumed[name], full[name], atol=1e-6, rtol=0, err_msg=name)


@pytest.mark.one_backend  # what a SIGKILL leaves on disk; each backend's resumed numerics: the test above
def test_pretraining_resumes_after_a_kill_to_the_uninterrupted_weights(tiny_recipe_module, tmp_path):
    from keras_clx.pretraining import pretrain

    settings = [*PRETRAIN, "model.pretrain.steps_per_epoch=30"]  # 2 epochs: killed in the second
    reference = pretrain(tiny_recipe_module(*settings), tmp_path / "reference", verbose=0)
    out = tmp_path / "killed"
    data = "data.options={'train_size': 96, 'dev_size': 16, 'test_size': 24, 'unlabeled_size': 64}"
    command = [sys.executable, "-m", "keras_clx.cli", "--quiet", "pretrain", "recipes/demo.py", "--out", str(out)]
    command += set_args([data, *TINY_OVERRIDES, "eval.batch_size=32", *settings])
    state = out / "checkpoints" / "state.json"
    errors = tmp_path / "killed.err"
    with open(errors, "w") as stderr:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.time() + 300
        while not (state.is_file() and json.loads(state.read_text())["epoch"] >= 1):
            assert process.poll() is None and time.time() < deadline, errors.read_text()[-2000:]
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert json.loads(state.read_text())["epoch"] == 1 and not (out / "config.json").exists()  # killed mid-run
    resumed = subprocess.run([*command, "--resume"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    full = _weights(reference.directory / "checkpoints" / "epoch-2.weights.h5")
    after_kill = _weights(out / "checkpoints" / "epoch-2.weights.h5")
    assert full.keys() == after_kill.keys()
    for name in full:
        np.testing.assert_allclose(after_kill[name], full[name], atol=1e-6, rtol=0, err_msg=name)
    assert (out / "config.json").is_file()


def test_preset_fine_tunes_in_fit_and_loads_in_a_fresh_process(pretrained, tiny_recipe_module, tmp_path):
    from keras_clx import fit
    from keras_clx.models.backbones import build_backbone

    preset = str(pretrained.directory)
    run = fit(tiny_recipe_module(f"model.backbone={preset}"), tmp_path / "run", verbose=0)
    assert run.report.target_average()["accuracy"] >= 0
    assert run.model.backbone.count_params() == build_backbone(preset, sequence_length=16)[0].count_params()

    backbone, preprocessor = build_backbone(preset, sequence_length=16)
    x = preprocessor(["alpha beta gamma"])
    here = backbone.predict(x, verbose=0)["sequence_output"].sum()
    code = (
        "from keras_clx.models.backbones import build_backbone; "
        f"b, p = build_backbone({preset!r}, sequence_length=16); "
        "print(float(b.predict(p(['alpha beta gamma']), verbose=0)['sequence_output'].sum()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.strip().splitlines()[-1]) == pytest.approx(float(here), rel=1e-5, abs=1e-4)


@pytest.mark.parametrize("backbone", ["bert_tiny", "xlmr_tiny"])
def test_fit_chains_pretraining_into_the_run_directory(backbone, tiny_recipe_module, tmp_path):
    from keras_clx import fit

    recipe = tiny_recipe_module(
        "model.pretrain.enabled=true",
        "model.pretrain.epochs=1",
        "model.pretrain.steps_per_epoch=2",
        "model.pretrain.batch_size=8",
        f"model.backbone={backbone}",
    )
    run = fit(recipe, tmp_path / "run", verbose=0)
    pretrained = tmp_path / "run" / "pretrained"
    assert (pretrained / "config.json").is_file() and (pretrained / "pretrain.json").is_file()
    assert run.recipe.model.backbone == backbone  # the run's recipe, as recipe.json (the preset is inside the run)
    saved = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert saved["model"]["pretrain"]["enabled"] is True and saved["model"]["backbone"] == backbone
    assert set(json.loads((pretrained / "pretrain.json").read_text())["heldout_masked_accuracy"]) == {
        "source",
        "near",
        "mid",
        "far",
    }


@pytest.mark.parametrize(
    "spec, message",
    [
        ("es=/nonexistent/es.txt", "/nonexistent/es.txt: file not found"),
        ("es=/", "/: is a directory, expected a file"),
        ("=x.txt", "is not of the form LANG=PATH"),
    ],
)
def test_bad_text_file_is_a_one_line_error(spec, message, tmp_path):
    result = CliRunner().invoke(
        main, ["--quiet", "pretrain", "recipes/demo.py", "--out", str(tmp_path / "p"), "--text", spec]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_empty_or_undecodable_text_file_is_a_one_line_error(tmp_path):
    (tmp_path / "es.txt").write_bytes(b"\xef\xbb\xbfhola\r\n\xe9t\xe9\n")  # a BOM, CRLF, then Latin-1
    result = CliRunner().invoke(
        main,
        ["--quiet", "pretrain", "recipes/demo.py", "--out", str(tmp_path / "p"), "--text", str(tmp_path / "es.txt")],
    )
    assert result.exit_code == 2 and "es.txt:2: not valid UTF-8" in result.output
    (tmp_path / "th.txt").write_text("\n\n")
    result = CliRunner().invoke(
        main,
        ["--quiet", "pretrain", "recipes/demo.py", "--out", str(tmp_path / "p"), "--text", str(tmp_path / "th.txt")],
    )
    assert result.exit_code == 2 and "th.txt: text file is empty" in result.output


def test_code_switched_copies_join_the_pretraining_text(tmp_path):
    from keras_clx.data.demo import make_demo_corpus
    from keras_clx.pretraining.texts import recipe_texts

    recipe = tiny_demo_recipe("model.pretrain.code_switch_copies=2", "train.code_switch.rate=1.0")
    corpus = make_demo_corpus(**recipe.data.options)
    source = [e.text for e in corpus.train]
    pairs = set()  # a lexicon aligning the first test sentences word by word
    for s, t in zip(corpus.languages["source"].test[:8], corpus.languages["near"].test[:8]):
        pairs.update(zip(s.text.split(), t.text.split()))
    (tmp_path / "near.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    recipe.train.code_switch.dictionaries = {"near": str(tmp_path / "near.tsv")}

    texts = recipe_texts(recipe, corpus)
    switched = texts.pop("source>switched")
    assert texts["source"] == source and set(texts) == {"source", *corpus.targets}
    assert len(switched) == 2 * len(source)
    lexicon = {a for a, _ in pairs}
    changed = [(a, b) for a, b in zip(source * 2, switched) if a != b]
    assert changed and all(set(a.split()) & lexicon for a, _ in changed)
    assert recipe_texts(recipe, corpus)["source>switched"] == switched  # seeded
    recipe.model.pretrain.code_switch_copies = 0
    assert "source>switched" not in recipe_texts(recipe, corpus)


def test_several_processes_are_refused_outside_fit(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "127.0.0.1:1")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "0")
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}),
    )
    result = CliRunner().invoke(main, ["--quiet", "pretrain", "recipes/demo.py", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    if keras.backend.backend() != "torch":  # torch refuses several processes first
        assert "keras-clx pretrain runs in one process" in result.output
    assert not (tmp_path / "p").exists()
