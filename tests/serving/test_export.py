"""Export for TF Serving: a tiny run trained on this backend (`KERAS_BACKEND`), exported,
reloaded in a fresh process that imports only tensorflow + tensorflow_text, and
compared with the trained model; the signature, bad input, the CLI, token spans."""

import contextlib
import fcntl
import json
import os
import pathlib
import pickle
import shutil

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from keras_clx import experiment
from keras_clx.cli import main
from keras_clx.data import iob
from keras_clx.data.records import Example, LabelVocabulary
from keras_clx.errors import ClxError
from keras_clx.recipes import Recipe, apply_overrides, load_recipe
from keras_clx.serving.client import predict_saved_model, rows_from_outputs
from keras_clx.serving.export import export_run
from keras_clx.serving.graph import (
    METADATA_FILE,
    SEQUENCE_OUTPUTS,
    TOKEN_OUTPUTS,
    tag_entities,
)
from keras_clx.serving.layout import target_dir
from tests.helpers import target_example

BACKEND = keras.backend.backend()
TOLERANCE = 1e-4
LENGTH = 16


@contextlib.contextmanager
def _locked(path):
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def built_once(tmp_path_factory, name, build):
    """`build(directory)` once per session, also across pytest-xdist workers (their
    temporary directories share a parent): exports are slow. Returns its value."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    directory = root / f"export-{name}"
    with _locked(root / f"export-{name}.lock"):
        done = directory / "result.pickle"
        if not done.is_file():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            done.write_bytes(pickle.dumps(build(directory)))
        return pickle.loads(done.read_bytes())


def probabilities_of(run, texts):
    examples = [Example(t, "unknown", str(i)) for i, t in enumerate(texts)]
    return run.task.predict_proba(run.model, examples, batch_size=64)


# === Sequence task: a run trained with `experiment.fit` ===


def _train_and_export_sequence(directory):
    recipe = load_recipe("demo")
    recipe.data.options = dict(train_size=32, dev_size=8, test_size=8, unlabeled_size=8)
    apply_overrides(
        recipe,
        [
            f"model.sequence_length={LENGTH}",
            "model.vocabulary_size=300",
            "train.epochs=1",
            "train.batch_size=16",
            "eval.batch_size=64",
        ],
    )
    experiment.fit(recipe, out_dir=directory / "run", verbose=0)
    return export_run(directory / "run", directory / "served", name="demo", sample_size=16, verbose=0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return built_once(tmp_path_factory, f"sequence-{BACKEND}", _train_and_export_sequence)


@pytest.fixture(scope="module")
def run(exported):
    return experiment.load_run(exported.path.parents[2] / "run")


def test_reloaded_savedmodel_answers_as_the_trained_model(exported, run):
    assert exported.max_abs_difference <= TOLERANCE
    assert exported.reference_backend == BACKEND
    assert exported.method == ("direct" if BACKEND == "tensorflow" else "re-export")
    assert len(exported.texts) == 18 and "" in exported.texts  # 16 sampled, empty, over-long
    # Independently of the export's own check: the fresh process's outputs vs this process's model.
    expected = probabilities_of(run, exported.texts)
    served = exported.outputs["probabilities"]
    assert np.abs(served - expected).max() <= TOLERANCE
    np.testing.assert_allclose(served.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(exported.outputs["label_id"], expected.argmax(-1))
    assert list(exported.outputs["label"]) == [run.labels.names[i] for i in expected.argmax(-1)]


def test_signature_takes_strings_and_answers_the_documented_outputs(exported, run):
    assert exported.signature["inputs"] == {"text": ["string", [None]]}
    sizes = {"C": len(run.labels)}
    expected = {name: [dtype, [sizes.get(d, d) for d in shape]] for name, (dtype, shape) in SEQUENCE_OUTPUTS.items()}
    assert exported.signature["outputs"] == expected
    assert exported.outputs["probabilities"].dtype == np.float32
    assert exported.outputs["label_id"].dtype == np.int32


def test_fresh_process_loaded_only_tensorflow_and_tf_text(exported):
    assert "tensorflow" in exported.modules and "tensorflow_text" in exported.modules
    for module in ("keras_hub", "keras_clx", "torch"):
        assert module not in exported.modules


def test_tf_serving_layout_and_metadata(exported, run):
    assert (exported.name, exported.version) == ("demo", 1)
    assert exported.path.parts[-3:] == ("served", "demo", "1")
    assert (exported.path / "saved_model.pb").is_file() and (exported.path / "variables").is_dir()
    assert sorted(os.listdir(exported.path.parent)) == ["1"]  # no staging directory left behind
    metadata = json.loads((exported.path / METADATA_FILE).read_text())
    assert metadata["task"] == "sequence" and metadata["labels"] == run.labels.names
    assert metadata["verification"]["max_abs_difference"] == exported.max_abs_difference
    assert metadata["trained_backend"] == BACKEND


def test_invalid_utf8_empty_and_overlong_texts(exported, run):
    long_text = " ".join(["bado kimu sela"] * 3 * LENGTH)
    texts = [b"bado \xff\xfekimu", "", long_text, long_text + " tiva ropu", "   "]
    rows = predict_saved_model(exported.path, texts)
    # Invalid bytes are replaced by U+FFFD, as bytes.decode("utf-8", errors="replace").
    assert rows[0]["text"] == "bado \ufffd\ufffdkimu"
    expected = probabilities_of(run, ["bado \ufffd\ufffdkimu", "", long_text])
    for row, p in zip(rows, expected):
        assert np.abs(np.array(list(row["probabilities"].values())) - p).max() <= TOLERANCE
    # Over-long texts are truncated to the sequence length: words past it change nothing.
    assert rows[2]["probabilities"] == rows[3]["probabilities"]
    assert rows[1]["probabilities"] == rows[4]["probabilities"]  # blank is empty


def test_existing_version_is_refused_unless_overwrite(exported):
    served = exported.path.parents[1]
    with pytest.raises(ClxError, match="already exists.*--overwrite"):
        export_run(exported.path.parents[2] / "run", served, name="demo", version=1, verbose=0)
    assert target_dir(served, "demo") == (served / "demo" / "2", 2)
    assert target_dir(served, "demo", 1, overwrite=True) == (exported.path, 1)
    with pytest.raises(ClxError, match="model name"):
        target_dir(served, "my model")


def test_run_without_weights_is_refused(tmp_path):
    with pytest.raises(ClxError, match="does not exist"):
        export_run(tmp_path / "nowhere", tmp_path / "served", verbose=0)
    incomplete = tmp_path / "run"
    incomplete.mkdir()
    Recipe().to_json(incomplete / "recipe.json")
    (incomplete / "labels.json").write_text(json.dumps(LabelVocabulary(["a", "b"]).to_json()))
    with pytest.raises(ClxError, match="no trained weights"):
        export_run(incomplete, tmp_path / "served", verbose=0)
    assert not (tmp_path / "served").exists()
    (incomplete / "leave_one_out.json").write_text(json.dumps({"es": {"sources": ["en"], "directory": "es"}}))
    with pytest.raises(ClxError, match="leave-one-out run.*export one of .*es"):
        export_run(incomplete, tmp_path / "served", verbose=0)


def _fake_run(tmp_path, monkeypatch, served_probabilities):
    """A run directory and an export whose model loading, writing and reloading are stand-ins
    (fast): the fresh process "answers" `served_probabilities`."""
    import keras_clx.serving.export as export

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    Recipe().to_json(run_dir / "recipe.json")
    (run_dir / "labels.json").write_text(json.dumps(LabelVocabulary(["a", "b"]).to_json()))
    (run_dir / "metrics.json").write_text(json.dumps({"backend": BACKEND}))
    (run_dir / "model.keras").write_bytes(b"weights")

    def write(run, path):
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"graph")

    signature = {
        "inputs": {"text": ["string", [None]]},
        "outputs": {k: [d, [2 if x == "C" else x for x in s]] for k, (d, s) in SEQUENCE_OUTPUTS.items()},
    }
    verified = {
        "signature": signature,
        "custom_ops": [],
        "modules": [],
        "outputs": {"probabilities": served_probabilities, "label_id": [0], "label": ["a"]},
    }
    monkeypatch.setattr(export, "load_run_checked", lambda run_dir: None)
    monkeypatch.setattr(export, "reference_outputs", lambda run, texts: {"probabilities": [[0.75, 0.25]]})
    monkeypatch.setattr(export, "write_saved_model", write)
    monkeypatch.setattr(export, "run_in_backend", lambda command, backend, run, path: write(None, pathlib.Path(path)))
    monkeypatch.setattr(export, "verify_in_fresh_process", lambda path, texts: verified)
    return run_dir


def test_failed_verification_writes_nothing_and_prints_the_figure(tmp_path, monkeypatch):
    run_dir = _fake_run(tmp_path, monkeypatch, served_probabilities=[[0.7, 0.3]])
    with pytest.raises(ClxError, match=r"max abs difference 5.00e-02 > 1e-04"):
        export_run(run_dir, tmp_path / "served", name="m", texts=["x"], verbose=0)
    assert os.listdir(tmp_path / "served" / "m") == []  # no version, no staging directory


def test_overwrite_replaces_the_version_directory(tmp_path, monkeypatch):
    run_dir = _fake_run(tmp_path, monkeypatch, served_probabilities=[[0.75, 0.25 + 5e-5]])
    old = tmp_path / "served" / "m" / "3"
    old.mkdir(parents=True)
    (old / "stale").write_text("")
    with pytest.raises(ClxError, match="already exists"):
        export_run(run_dir, tmp_path / "served", name="m", version=3, texts=["x"], verbose=0)
    result = export_run(run_dir, tmp_path / "served", name="m", version=3, overwrite=True, texts=["x"], verbose=0)
    assert result.path == old and result.max_abs_difference == pytest.approx(5e-5)
    assert sorted(os.listdir(old)) == ["assets.extra", "saved_model.pb"]
    assert os.listdir(old.parent) == ["3"]


def test_mixed_precision_run_is_loaded_for_export_in_float32(tmp_path):
    from keras_clx.models.backbones import build_backbone
    from keras_clx.models.sequence_classifier import SequenceClassifier
    from keras_clx.serving.runs import load_run_checked

    texts = ["bado kimu sela", "tiva ropu nogo"] * 8
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        backbone, preprocessor = build_backbone("bert_tiny", texts, sequence_length=LENGTH, vocabulary_size=60)
        model = SequenceClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("logits").compute_dtype == "bfloat16"
    model.save(tmp_path / experiment.MODEL_FILE)
    Recipe().to_json(tmp_path / "recipe.json")
    (tmp_path / "labels.json").write_text(json.dumps(LabelVocabulary(["a", "b"]).to_json()))

    run = load_run_checked(tmp_path)
    computes = {layer.dtype_policy.compute_dtype for layer in run.model._flatten_layers(include_self=True)}
    assert "bfloat16" not in computes
    assert keras.ops.convert_to_numpy(run.model(preprocessor(texts[:2]))).dtype == np.float32


def test_cli_predict_from_savedmodel_matches_predict_from_run(exported, run, tmp_path):
    texts = exported.texts[:4]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    runner = CliRunner()
    served = runner.invoke(
        main, ["--quiet", "predict", "--saved-model", str(exported.path.parent), "--input", str(tmp_path / "in.txt")]
    )
    assert served.exit_code == 0, served.output
    served_rows = [json.loads(line) for line in served.output.splitlines()]
    assert [r["text"] for r in served_rows] == texts
    for a, b in zip(served_rows, run.predict(texts)):  # what `keras-clx predict RUN_DIR` prints
        assert a["label"] == b["label"] and a["probabilities"].keys() == b["probabilities"].keys()
        assert max(abs(a["probabilities"][k] - b["probabilities"][k]) for k in a["probabilities"]) <= TOLERANCE

    neither = runner.invoke(main, ["predict", "--text", "x"])
    assert neither.exit_code == 2 and "--saved-model" in neither.output
    again = runner.invoke(
        main,
        [
            "--quiet",
            "export",
            str(exported.path.parents[2] / "run"),
            "--out",
            str(exported.path.parents[1]),
            "--name",
            "demo",
            "--version",
            "1",
        ],
    )
    assert again.exit_code == 2 and "already exists" in again.output
    assert len(again.output.strip().splitlines()) == 1


# === Token task: spans ===

TARGETS = LabelVocabulary(["TARGET"])


TOKEN_EXAMPLES = [
    target_example("Loved the goat cheese pizza, and the wine list.", "en", "a", (10, 27), (37, 46)),
    target_example("Service, pizza pasta.", "en", "b", (0, 7), (9, 14), (15, 20)),
    target_example("La paella y el vino estaban buenísimos.", "es", "c", (3, 9), (15, 19)),
    target_example("Nothing to say.", "en", "d"),
]
TOKEN_TEXTS = [e.text for e in TOKEN_EXAMPLES] + [
    "The pizza and the wine, the paella!",
    "東京タワー は、すごい！ 😀x naïve café",
    "",
    " ".join(["pizza pasta"] * LENGTH),
]


def _train_and_export_token(directory):
    from keras_clx.data.token_pipeline import token_dataset
    from keras_clx.models.backbones import build_backbone
    from keras_clx.models.token_classifier import TokenClassifier

    keras.utils.set_random_seed(0)
    tags = iob.IOBLabels(TARGETS.names)
    backbone, preprocessor = build_backbone(
        "xlmr_tiny", [e.text for e in TOKEN_EXAMPLES] * 4, sequence_length=LENGTH, vocabulary_size=120
    )
    model = TokenClassifier(backbone, num_classes=len(tags), preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(token_dataset(TOKEN_EXAMPLES * 4, tags, preprocessor, batch_size=8), epochs=4, verbose=0)

    run_dir = directory / "run"
    run_dir.mkdir()
    recipe = Recipe()
    recipe.data.task = "token"
    recipe.model.backbone, recipe.model.sequence_length = "xlmr_tiny", LENGTH
    recipe.to_json(run_dir / "recipe.json")
    (run_dir / "labels.json").write_text(json.dumps(TARGETS.to_json()))
    (run_dir / "metrics.json").write_text(json.dumps({"backend": BACKEND}))
    model.save(run_dir / experiment.MODEL_FILE)
    return export_run(run_dir, directory / "served", name="targets", texts=TOKEN_TEXTS, verbose=0)


@pytest.fixture(scope="module")
def token_exported(tmp_path_factory):
    return built_once(tmp_path_factory, f"token-{BACKEND}", _train_and_export_token)


def test_token_export_answers_words_tags_and_spans(token_exported):
    result = token_exported
    assert result.task == "token" and result.max_abs_difference <= TOLERANCE
    assert result.signature["inputs"] == {"text": ["string", [None]]}
    assert {k: (d, len(s)) for k, (d, s) in result.signature["outputs"].items()} == {
        k: (d, len(s)) for k, (d, s) in TOKEN_OUTPUTS.items()
    }
    run = experiment.load_run(result.path.parents[2] / "run")
    metadata = json.loads((result.path / METADATA_FILE).read_text())
    served = rows_from_outputs(TOKEN_TEXTS, result.outputs, metadata)
    trained = run.predict(TOKEN_TEXTS)
    assert served == trained  # words, tags and character spans, as the trained model answers
    assert sum(len(row["spans"]) for row in served) > 0
    for row in served:
        for span in row["spans"]:
            assert row["text"][span["start"] : span["end"]] == span["text"] and span["label"] == "TARGET"
    # Words past the sequence length are tagged O; every text keeps all its words.
    assert served[-1]["words"] == ["pizza", "pasta"] * LENGTH and set(served[-1]["tags"][LENGTH:]) == {"O"}
    assert served[-2] == {"text": "", "words": [], "tags": [], "spans": []}


def test_tag_entities_chunks_as_seqeval():
    tags = iob.IOBLabels(["A", "B"])
    rng = np.random.default_rng(0)
    texts = [rng.integers(0, len(tags), size=rng.integers(0, 12)).tolist() for _ in range(60)]
    flat = [t for text in texts for t in text]
    first = [i == 0 for text in texts for i in range(len(text))]
    begins, entity = (x.numpy().tolist() for x in tag_entities(np.array(flat, "int32"), np.array(first, bool)))
    got, k = [], 0
    for text in texts:
        words = range(k, k + len(text))
        chunks = []
        for i in words:
            if begins[i]:
                members = [j for j in words if entity[j] == entity[i]]
                chunks.append((tags.names[flat[i]][2:], members[0] - k, members[-1] - k + 1))
        got.append(chunks)
        k += len(text)
    assert got == [iob.tag_chunks(tags.decode(text)) for text in texts]
