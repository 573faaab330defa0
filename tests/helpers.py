"""Helpers shared by test modules (keras-hub keeps its equivalents on one `TestCase`)."""

import io
import pathlib
import tarfile
import zipfile

import keras
import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# `--set` overrides that make the demo recipe train in seconds (with TINY_DATA: on 96 examples).
TINY_OVERRIDES = ("model.sequence_length=16", "model.vocabulary_size=300", "train.epochs=1", "train.batch_size=16")
TINY_DATA = "data.options={'train_size': 96, 'dev_size': 16, 'test_size': 24, 'unlabeled_size': 32}"


def to_numpy(x):
    """A tensor of any backend (or of tf.data) as NumPy; torch tensors are detached first."""
    return keras.ops.convert_to_numpy(x)


def run_model_saving_test(model, inputs, tmp_path, cls, atol=1e-6):
    """Saves `model` to `.keras`, reloads it without compiling, checks its class and that it
    predicts `inputs` as the original does (float32 rounding aside); returns the reloaded model."""
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    assert isinstance(restored, cls)
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), model.predict(inputs, verbose=0), rtol=0, atol=atol)
    return restored


def tiny_demo_recipe(*overrides, unlabeled_size=32):
    """The demo recipe small enough to train in seconds, with extra `--set` overrides."""
    from keras_clx.recipes import apply_overrides, load_recipe

    recipe = load_recipe(str(REPO_ROOT / "recipes" / "demo.py"))
    recipe.data.options = dict(train_size=96, dev_size=16, test_size=24, unlabeled_size=unlabeled_size)
    return apply_overrides(recipe, [*TINY_OVERRIDES, "eval.batch_size=32", *overrides])


def set_args(overrides):
    """CLI arguments `--set o` for each override."""
    return [arg for override in overrides for arg in ("--set", override)]


def invoke_cli(*args):
    """`keras-clx --quiet *args` through click's test runner."""
    from click.testing import CliRunner

    from keras_clx.cli import main

    return CliRunner().invoke(main, ["--quiet", *args])


# === Examples and files ===


def target_span(start, end):
    """A `TARGET` span of characters `start:end` (aspect targets, the token task's one type)."""
    from keras_clx.data.records import Span

    return Span(start, end, "TARGET")


def target_example(text, language, id, *spans):
    """A token-task `Example` whose `spans` are `TARGET` spans given as `(start, end)` pairs."""
    from keras_clx.data.records import Example

    return Example(text, language, id, spans=tuple(target_span(start, end) for start, end in spans))


MTOD_TOKENS = '{"tokenizations": [{"tokens": [], "tokenSpans": []}]}'


def mtod_row(intent="alarm/set_alarm", slots="", text="set an alarm", tag="en_XX", tokens=MTOD_TOKENS):
    """One line of an MTOD TSV file: intent, slots, utterance, language tag, tokens JSON."""
    return "\t".join([intent, slots, text, tag, tokens])


def make_zip(path, members):
    """A zip archive at `path` of `{name: text}`."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def make_tar(path, members, links=()):
    """A .tar.gz at `path` of `{name: text}`, plus symbolic links `(name, target)`."""
    with tarfile.open(path, "w:gz") as tf:
        for name, content in members.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path
