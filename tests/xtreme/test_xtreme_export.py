"""Export of pair and CoNLL-tagging runs: the SavedModel, reloaded in a fresh process,
answers as the trained model (<= 1e-4); the in-graph pair packing equals keras-hub's."""

import keras
import numpy as np
import pytest

from keras_clx.models.backbones import build_backbone

BACKEND = keras.backend.backend()
export_only_once = pytest.mark.skipif(BACKEND != "tensorflow", reason="export tests run once, on tensorflow")
TEXTS = ["the red cat sleeps", "a dog runs fast in the big house by the river", "ünïcode wörds"] * 3


@pytest.mark.parametrize("family", ["bert", "xlmr"])
def test_graph_pair_packing_equals_the_preprocessor(family):
    import tensorflow as tf

    from keras_clx.serving.graph import _pack_pair

    _, preprocessor = build_backbone(f"{family}_tiny", TEXTS, sequence_length=12, vocabulary_size=60)
    first = ["the red cat sleeps", "", "a dog runs fast in the big house by the river", "cat"]
    second = ["a dog runs fast in the big house by the river", "", "red", "the red cat sleeps fast"]
    expected = preprocessor((tf.constant(first), tf.constant(second)), y=None)
    tokenizer = preprocessor.tokenizer
    pack = tf.function(lambda a, b: _pack_pair(tokenizer(a), tokenizer(b), tokenizer, 12, 1 if family == "bert" else 2))
    got = pack(tf.constant(first), tf.constant(second))  # in a graph, as served
    names = ["token_ids", "padding_mask"] + (["segment_ids"] if family == "bert" else [])
    for name in names:
        np.testing.assert_array_equal(
            np.asarray(got[name]).astype("int32"),
            keras.ops.convert_to_numpy(expected[name]).astype("int32"),
            err_msg=name,
        )


@export_only_once
def test_pair_export_answers_as_the_trained_model(pair_recipe, tmp_path):
    from keras_clx.experiment import fit
    from keras_clx.serving.client import predict_saved_model
    from keras_clx.serving.export import export_run

    run = fit(pair_recipe(), out_dir=tmp_path / "run", verbose=0)
    result = export_run(tmp_path / "run", tmp_path / "models", name="pawsx", verbose=0)
    assert result.max_abs_difference <= 1e-4 and result.signature["inputs"] == {
        "text": ["string", [None]],
        "text_pair": ["string", [None]],
    }
    texts, pairs = ["red cat big .", "dog runs"], ["big cat red .", "the house"]
    served = predict_saved_model(result.path, texts, pairs=pairs)
    trained = run.predict(texts, pairs=pairs)
    assert [r["text_pair"] for r in served] == pairs
    for s, t in zip(served, trained):
        assert s["label"] == t["label"] and abs(s["probability"] - t["probability"]) <= 1e-4

    # The CLI: --text/--pair, a two-column TSV, the SavedModel, and the one-line errors.
    import json

    from click.testing import CliRunner

    from keras_clx.cli import main

    (tmp_path / "in.tsv").write_text("red cat big .\tbig cat red .\ndog runs\tthe house\n")
    cli = CliRunner()
    for args in (
        ["--text", texts[0], "--pair", pairs[0], "--text", texts[1], "--pair", pairs[1]],
        ["--input", str(tmp_path / "in.tsv")],
    ):
        for source in ([str(tmp_path / "run")], ["--saved-model", str(result.path)]):
            out = cli.invoke(main, ["predict", *source, *args])
            assert out.exit_code == 0, out.output
            rows = [json.loads(line) for line in out.stdout.splitlines()]
            assert [(r["text"], r["text_pair"], r["label"]) for r in rows] == [
                (t["text"], t["text_pair"], t["label"]) for t in trained
            ]
    (tmp_path / "bad.tsv").write_text("a\tb\n\nonly one\n")  # the error names the file's line, blanks counted
    out = cli.invoke(main, ["predict", str(tmp_path / "run"), "--input", str(tmp_path / "bad.tsv")])
    assert out.exit_code == 2 and "bad.tsv:3: expected 2 non-empty tab-separated texts" in out.output
    out = cli.invoke(main, ["predict", str(tmp_path / "run"), "--text", "a"])
    assert out.exit_code == 2 and "give --pair with every --text" in out.output


@export_only_once
def test_conll_tagging_export_answers_as_the_trained_model(conll_recipe, tmp_path):
    from keras_clx.experiment import fit
    from keras_clx.serving.client import predict_saved_model
    from keras_clx.serving.export import export_run

    run = fit(conll_recipe("tagging", "train.epochs=1"), out_dir=tmp_path / "run", verbose=0)
    result = export_run(tmp_path / "run", tmp_path / "models", name="pos", verbose=0)
    assert result.max_abs_difference <= 1e-4
    texts = ["Anna visited Paris .", "Chen likes Rio de Janeiro today ."]
    served, trained = predict_saved_model(result.path, texts), run.predict(texts)
    assert served == trained
