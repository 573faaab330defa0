import keras
import numpy as np

from keras_clx.models.backbones import build_backbone
from keras_clx.models.dropout import FastDropout, hash_keep_mask, lane_keep_mask
from keras_clx.models.sequence_classifier import SequenceClassifier


def mask(seed, shape=(256, 4096), keep=0.9):
    import jax

    return np.asarray(hash_keep_mask(jax.numpy.array(seed, "uint32"), shape, keep))


def test_hash_mask_keeps_the_requested_fraction_independently_of_position():
    m = mask([3, 0])
    assert abs(m.mean() - 0.9) < 0.003
    # neighbours along either axis are independent: P(both kept) = 0.81
    assert abs((m[:, 1:] & m[:, :-1]).mean() - 0.81) < 0.004
    assert abs((m[1:] & m[:-1]).mean() - 0.81) < 0.004
    assert abs(mask([3, 0], keep=0.5).mean() - 0.5) < 0.003


def test_hash_mask_is_a_function_of_the_seed():
    np.testing.assert_array_equal(mask([3, 0]), mask([3, 0]))
    for other in ([3, 1], [4, 0]):  # the next step of a seed generator, another layer's seed
        agreement = (mask(other) == mask([3, 0])).mean()
        assert abs(agreement - (0.81 + 0.01)) < 0.004  # as for independent masks


def lane_mask(seed, shape=(256, 4096), keep=0.9):
    import torch

    return lane_keep_mask(torch.Generator().manual_seed(seed), shape, keep).numpy()


def test_lane_mask_keeps_the_requested_fraction_independently_of_position():
    m = lane_mask(3)
    assert abs(m.mean() - 0.9) < 0.003
    # the four lanes of a draw and neighbouring rows are independent: P(both kept) = 0.81
    assert abs((m[:, 1:] & m[:, :-1]).mean() - 0.81) < 0.004
    assert abs((m[1:] & m[:-1]).mean() - 0.81) < 0.004
    assert abs(lane_mask(3, keep=0.5).mean() - 0.5) < 0.003
    assert lane_mask(3, shape=(3, 5, 7)).shape == (3, 5, 7)  # sizes that are not a multiple of 4


def test_lane_mask_is_a_function_of_the_generator_state():
    np.testing.assert_array_equal(lane_mask(3), lane_mask(3))
    agreement = (lane_mask(4) == lane_mask(3)).mean()
    assert abs(agreement - (0.81 + 0.01)) < 0.004  # as for independent masks


def test_seeded_fast_dropout_is_reproducible_and_new_every_call():
    ones = keras.ops.ones((64, 256))
    a, b = FastDropout(0.3, seed=7), FastDropout(0.3, seed=7)
    first = keras.ops.convert_to_numpy(a(ones, training=True))
    np.testing.assert_array_equal(first, keras.ops.convert_to_numpy(b(ones, training=True)))
    second = keras.ops.convert_to_numpy(a(ones, training=True))
    assert (first != second).mean() > 0.3  # 2 · 0.3 · 0.7 = 0.42 for independent masks
    assert abs((first != 0).mean() - 0.7) < 0.02


def test_classifiers_switch_their_dropout_on_jax_and_torch():
    backbone, preprocessor = build_backbone("bert_tiny", ["a b c", "d e f"], sequence_length=8, vocabulary_size=40)
    model = SequenceClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    dropouts = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
    assert dropouts
    fast = [layer for layer in dropouts if isinstance(layer, FastDropout)]
    assert len(fast) == (len(dropouts) if keras.backend.backend() in ("jax", "torch") else 0)

    x = preprocessor(["a b c d e f a b"] * 64)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x, training=False)), keras.ops.convert_to_numpy(model(x, training=False))
    )
    layer = dropouts[0]
    ones = keras.ops.ones((64, 128))
    out = keras.ops.convert_to_numpy(layer(ones, training=True))
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / (1 - layer.rate), rtol=1e-6)
    assert abs(kept.mean() - (1 - layer.rate)) < 0.02
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(ones, training=False)), 1.0)
