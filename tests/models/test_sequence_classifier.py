import keras
import numpy as np
import pytest

from keras_clx.data.demo import make_demo_corpus
from keras_clx.errors import ClxError
from keras_clx.models.backbones import build_backbone
from keras_clx.models.sequence_classifier import SequenceClassifier
from tests.helpers import run_model_saving_test, to_numpy


@pytest.fixture(scope="module", params=["bert_tiny", "xlmr_tiny"])
def trained(request):
    corpus = make_demo_corpus(train_size=64, dev_size=8, test_size=8, unlabeled_size=8)
    texts = [e.text for e in corpus.train]
    backbone, preprocessor = build_backbone(request.param, texts, sequence_length=16, vocabulary_size=300)
    model = SequenceClassifier(backbone, num_classes=len(corpus.labels), preprocessor=preprocessor)
    y = np.array(corpus.labels.encode(corpus.train))
    model.fit(texts, y, batch_size=16, epochs=1, verbose=0)
    return model, texts


def test_predicts_raw_strings_and_preprocessed_batches(trained):
    model, texts = trained
    from_strings = model.predict(texts[:6], verbose=0)
    assert from_strings.shape == (6, model.num_classes)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(texts[:6]).batch(3).map(model.preprocessor)
    np.testing.assert_allclose(model.predict(ds, verbose=0), from_strings, atol=1e-5)


def test_embedding_path_matches_the_model(trained):
    model, texts = trained
    x = model.preprocessor(texts[:4])
    logits, features = model.classify(x)
    np.testing.assert_allclose(to_numpy(logits), model.predict(texts[:4], verbose=0), atol=1e-5)
    assert tuple(features.shape) == (4, model.backbone.hidden_dim)
    embeddings = model.embed(x)
    assert tuple(embeddings.shape) == (4, 16, model.backbone.hidden_dim)
    noise = np.random.default_rng(0).normal(size=tuple(embeddings.shape)).astype("float32")
    shifted, _ = model.classify_embeddings(embeddings + keras.ops.convert_to_tensor(noise), x)
    assert np.abs(to_numpy(shifted - logits)).max() > 1e-4


def test_keras_save_and_load_gives_identical_predictions(trained, tmp_path):
    model, texts = trained
    # Identical up to float32 rounding (TF may fuse the reloaded graph differently).
    run_model_saving_test(model, texts[:8], tmp_path, SequenceClassifier)


def test_local_preset_directory_round_trip(trained, tmp_path):
    model, texts = trained
    model.backbone.save_to_preset(tmp_path / "preset")
    model.preprocessor.save_to_preset(tmp_path / "preset")
    backbone, preprocessor = build_backbone(str(tmp_path / "preset"), sequence_length=16)
    assert type(backbone) is type(model.backbone)
    for a, b in zip(backbone.weights, model.backbone.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(preprocessor(texts[:2])["token_ids"]),
        keras.ops.convert_to_numpy(model.preprocessor(texts[:2])["token_ids"]),
    )


def test_unknown_backbones_are_clear_errors(tmp_path):
    with pytest.raises(ClxError, match="unknown backbone 'bert_tiy'; did you mean 'bert_tiny'"):
        build_backbone("bert_tiy", ["a b c"])
    with pytest.raises(ClxError, match="is neither a keras-hub preset nor a Hugging Face BERT / XLM-R checkpoint"):
        build_backbone(str(tmp_path))


def test_predict_texts_pads_the_last_batch_and_returns_one_row_per_text(trained):
    from keras_clx.data.pipeline import predict_texts

    model, texts = trained
    expected = model.predict(texts[:11], verbose=0)
    outputs = predict_texts(model, texts[:11], batch_size=4, preprocessor=model.preprocessor)
    assert outputs.shape == (11, model.num_classes)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    with pytest.raises(ValueError, match="at least one text"):
        predict_texts(model, [], batch_size=4)
