import keras
import numpy as np
import pytest

from keras_clx.data.iob import IGNORE_INDEX, IOBLabels
from keras_clx.data.token_pipeline import encode_examples
from keras_clx.models.backbones import build_backbone
from keras_clx.models.token_classifier import TokenAccuracy, TokenClassifier
from tests.helpers import run_model_saving_test, target_example, to_numpy

TAGS = IOBLabels(["TARGET"])
X = IGNORE_INDEX
LENGTH = 24


EXAMPLES = [
    target_example("The goat cheese pizza was great.", "en", "0", (4, 21)),
    target_example("Service, pizza pasta.", "en", "1", (0, 7), (9, 14), (15, 20)),
    target_example("Nothing to say.", "en", "2"),
    target_example("The wine list is long.", "en", "3", (4, 13)),
] * 4


def log_softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


@pytest.fixture(scope="module", params=["bert_tiny", "xlmr_tiny"])
def classifier(request):
    texts = [e.text for e in EXAMPLES]
    backbone, preprocessor = build_backbone(request.param, texts, sequence_length=LENGTH, vocabulary_size=120)
    model = TokenClassifier(backbone, num_classes=len(TAGS), preprocessor=preprocessor)
    model.compile()
    encoding, y = encode_examples(EXAMPLES[:4], TAGS, preprocessor)
    return model, encoding.x, y


def test_per_example_loss_is_the_mean_over_labelled_subwords(classifier):
    model, _, _ = classifier
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 3)).astype("float32")
    y = np.array([[X, 1, 2, X, 0], [X, X, X, X, X], [0, X, X, X, 2]])
    log_p = log_softmax(logits.astype("float64"))
    expected = [
        -(log_p[0, 1, 1] + log_p[0, 2, 2] + log_p[0, 4, 0]) / 3,
        0.0,  # no labelled sub-word
        -(log_p[2, 0, 0] + log_p[2, 4, 2]) / 2,
    ]
    loss = to_numpy(model.per_example_loss(y, logits))
    assert loss.shape == (3,)
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)


def test_default_loss_and_accuracy_ignore_unlabelled_positions(classifier):
    model, _, _ = classifier
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 3)).astype("float32")
    y = np.array([[X, 1, 0, X], [2, X, X, X]])
    log_p = log_softmax(logits.astype("float64"))
    token_mean = -(log_p[0, 1, 1] + log_p[0, 2, 0] + log_p[1, 0, 2]) / 3
    assert float(model.loss(y, logits)) == pytest.approx(token_mean, rel=1e-5)
    shifted = logits.copy()
    shifted[y == X] += rng.normal(size=shifted[y == X].shape).astype("float32") * 10
    assert float(model.loss(y, shifted)) == pytest.approx(token_mean, rel=1e-5)

    metric = TokenAccuracy()
    predicted = np.zeros((2, 4, 3), "float32")
    predicted[0, 1, 1] = predicted[0, 2, 2] = predicted[1, 0, 2] = 1.0  # 2 of 3 right
    metric.update_state(y, predicted)
    assert float(metric.result()) == pytest.approx(2 / 3)


def test_classify_matches_the_model_and_features_are_a_masked_mean(classifier):
    model, x, _ = classifier
    logits, features = model.classify({k: keras.ops.convert_to_tensor(v) for k, v in x.items()})
    np.testing.assert_allclose(to_numpy(logits), to_numpy(model(x)), atol=1e-5)
    assert logits.shape == (4, LENGTH, len(TAGS))
    outputs = model.backbone(x)
    sequence = to_numpy(outputs["sequence_output"] if model.family == "bert" else outputs)
    mask = x["padding_mask"][..., None]
    expected = (sequence * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(to_numpy(features), expected, atol=1e-5)
    assert not mask.all()  # the batch has padding, so the mask matters


def test_keras_save_and_load_gives_identical_predictions(classifier, tmp_path):
    model, x, _ = classifier
    restored = run_model_saving_test(model, x, tmp_path, TokenClassifier)
    assert restored.num_classes == model.num_classes
    restored.compile()
    assert restored.loss.ignore_class == IGNORE_INDEX
