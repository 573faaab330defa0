"""Fixtures for the transfer-step tests: a tiny BERT classifier and padded batches."""

import numpy as np
import pytest

VOCAB, LENGTH, HIDDEN, CLASSES = 40, 10, 16, 3


def make_classifier(seed=0, dropout=0.0, weights="random"):
    """A 1-layer BERT classifier (hidden 16); `weights="numpy"` sets every weight from a
    numpy generator, so that every backend builds the same function."""
    import keras
    import keras_hub

    from keras_clx.models.sequence_classifier import SequenceClassifier

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB,
        num_layers=1,
        num_heads=2,
        hidden_dim=HIDDEN,
        intermediate_dim=32,
        max_sequence_length=LENGTH,
        dropout=dropout,
    )
    model = SequenceClassifier(backbone, CLASSES, dropout=dropout)
    if weights == "numpy":
        rng = np.random.default_rng(seed)
        model.set_weights(
            [
                (1.0 if "gamma" in v.path else 0.0) + rng.normal(0.0, 0.3, v.shape).astype("float32")
                for v in model.weights
            ]
        )
    return model


def make_batch(n=8, seed=0):
    """`(x, y)`: token ids with padding (lengths 3..LENGTH), labels in [0, CLASSES)."""
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([[LENGTH, 3], rng.integers(3, LENGTH + 1, n - 2)])
    mask = np.arange(LENGTH)[None, :] < lengths[:, None]
    x = {
        "token_ids": np.where(mask, rng.integers(5, VOCAB, (n, LENGTH)), 0).astype("int32"),
        "segment_ids": np.zeros((n, LENGTH), "int32"),
        "padding_mask": mask,
    }
    return x, rng.integers(0, CLASSES, n).astype("int32")


@pytest.fixture
def classifier():
    return make_classifier


@pytest.fixture
def batch():
    return make_batch
