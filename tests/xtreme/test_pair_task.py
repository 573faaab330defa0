"""Sentence-pair classification: packing both families, training with every transfer
method, self-training, prediction of pairs."""

import keras
import numpy as np
import pytest

from keras_clx.data.pipeline import predict_texts
from keras_clx.models.backbones import build_backbone

TEXTS = ["the red cat sleeps", "a dog runs fast in the big house by the river"] * 4


@pytest.mark.parametrize("family", ["bert", "xlmr"])
def test_pairs_pack_both_segments(family):
    _, preprocessor = build_backbone(f"{family}_tiny", TEXTS, sequence_length=12, vocabulary_size=60)
    tokenizer = preprocessor.tokenizer
    a, b = "the red cat sleeps", "a dog runs fast in the big house by the river"
    x = preprocessor(([a], [b]), y=None)  # a lone 2-tuple would be read as (x, y)
    ids = keras.ops.convert_to_numpy(x["token_ids"])[0].tolist()
    ids_a = keras.ops.convert_to_numpy(tokenizer(a)).tolist()
    ids_b = keras.ops.convert_to_numpy(tokenizer(b)).tolist()
    start, end = tokenizer.start_token_id, tokenizer.end_token_id
    assert len(ids_a) + len(ids_b) > 12 - 3  # the pair is truncated
    sep = [end] if family == "bert" else [end, end]
    room = 12 - 2 - len(sep)
    keep_a = min(len(ids_a), max((room + 1) // 2, room - len(ids_b)))  # round robin: the longer side loses
    expected = [start, *ids_a[:keep_a], *sep, *ids_b[: room - keep_a], end]
    assert ids == expected
    assert keep_a >= 1 and room - keep_a >= 1  # both sides keep words
    if family == "bert":
        segments = keras.ops.convert_to_numpy(x["segment_ids"])[0].tolist()
        assert segments == [0] * (keep_a + 2) + [1] * (room - keep_a + 1)


def test_predict_texts_on_pairs_equals_direct_call(pair_recipe):
    from keras_clx.models.sequence_classifier import SequenceClassifier

    backbone, preprocessor = build_backbone("bert_tiny", TEXTS, sequence_length=16, vocabulary_size=60)
    model = SequenceClassifier(backbone, 2, preprocessor=preprocessor)
    pairs = [(TEXTS[0], TEXTS[1]), (TEXTS[1], TEXTS[0]), (TEXTS[0], TEXTS[0])]
    got = predict_texts(model, pairs, batch_size=2, preprocessor=preprocessor)
    direct = model(preprocessor(([p[0] for p in pairs], [p[1] for p in pairs]), y=None))
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(direct), atol=1e-5)
    swapped = predict_texts(model, [pairs[1]], batch_size=2, preprocessor=preprocessor)
    assert not np.allclose(got[0], swapped[0])  # the order of the pair matters


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.perturbation=adversarial", "train.epsilon=0.5"],
        ["train.perturbation=random", "train.epsilon=0.5"],
        ["train.perturbation=virtual", "train.epsilon=0.5"],
        ["train.instance_weighting=cosine"],
    ],
    ids=["adversarial", "random", "virtual", "weighting"],
)
def test_pair_training_with_transfer_methods(pair_recipe, tmp_path, overrides):
    from keras_clx.experiment import fit

    run = fit(pair_recipe(*overrides), out_dir=tmp_path / "run", verbose=0)
    assert np.isfinite(run.history["loss"]).all()
    assert [r.language for r in run.report.rows] == ["en", "de"] and run.report.rows[1].examples == 40
    rows = run.predict(["red cat ."], pairs=["cat red ."])
    assert rows[0]["text_pair"] == "cat red ." and rows[0]["label"] in ("0", "1")


def test_pair_self_training(pair_recipe, tmp_path):
    from keras_clx.experiment import fit

    recipe = pair_recipe(
        "train.self_training.enabled=true",
        "train.self_training.k_per_class=4",
        "train.self_training.max_rounds=1",
        "train.self_training.epochs_per_round=1",
        "train.self_training.monitor=source_dev",
    )
    import json

    fit(recipe, out_dir=tmp_path / "run", verbose=0)
    state = json.loads(next((tmp_path / "run").rglob("state.json")).read_text())
    assert state["pseudo_labels"] and all("text_pair" in p for p in state["pseudo_labels"])
    assert all("text_pair" in p for p in state["pool"])
