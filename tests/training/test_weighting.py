"""Instance weights (paper 004, §2.2) and the source/target pairing of batches."""

import math

import numpy as np
import pytest
from keras import ops

from keras_clx.training import weighting


def weights(source, target, score):
    return ops.convert_to_numpy(
        weighting.instance_weights(np.asarray(source, "float32"), np.asarray(target, "float32"), score)
    )


def test_cosine_weights_on_a_hand_computed_example():
    source = [[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]]
    target = [[1.0, 0.0], [1.0, 1.0]]
    c = 1 / math.sqrt(2)  # cos 45°
    scores = np.array(
        [
            [(1 + 1) / 2, (1 + c) / 2],  # (1, 0):  0° and 45° from the targets
            [(1 + 0) / 2, (1 + c) / 2],  # (0, 2): 90° and 45°
            [(1 - c) / 2, (1 + 0) / 2],  # (-1, 1): 135° and 90°
        ]
    )
    expected = scores.sum(axis=1) / scores.sum()
    np.testing.assert_allclose(weights(source, target, "cosine"), expected, rtol=1e-6)
    np.testing.assert_allclose(expected, [0.48100, 0.35125, 0.16775], atol=1e-5)
    np.testing.assert_allclose(
        ops.convert_to_numpy(weighting.cosine_scores(np.float32(source), np.float32(target))),
        scores,
        rtol=1e-6,
    )


@pytest.mark.parametrize("score", weighting.SCORES)
def test_weights_sum_to_one_and_are_uniform_when_scores_are_equal(score):
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    w = weights(source, target, score)
    assert w.shape == (7,) and np.all(w >= 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-6)
    assert w.std() > 0
    same = np.tile(rng.normal(size=(1, 5)), (7, 1))  # every source example identical
    np.testing.assert_allclose(weights(same, target, score), np.full(7, 1 / 7), rtol=1e-5)


def test_euclidean_weights_are_a_gaussian_kernel_density_of_the_target_batch():
    rng = np.random.default_rng(1)
    source, target = rng.normal(size=(5, 3)), rng.normal(size=(6, 3)) + 0.5
    d2 = ((source[:, None, :] - target[None, :, :]) ** 2).sum(-1)
    expected = np.exp(-d2 / np.median(d2)).sum(1)
    np.testing.assert_allclose(weights(source, target, "euclidean"), expected / expected.sum(), rtol=1e-4)
    # A source example among the targets weighs more than one far away.
    near_far = weights([target.mean(0), target.mean(0) + 10.0], target, "euclidean")
    assert near_far[0] > 0.9


def test_coral_weights_are_the_per_example_terms_of_the_covariance_inner_product():
    rng = np.random.default_rng(2)
    source, target = rng.normal(size=(6, 4)), rng.normal(size=(5, 4)) * [3.0, 1.0, 0.2, 0.2]
    centred = source - source.mean(0)
    expected = (len(target) - 1) * np.einsum("id,de,ie->i", centred, np.cov(target.T), centred)
    np.testing.assert_allclose(weights(source, target, "coral"), expected / expected.sum(), rtol=1e-4)
    # Σ_i Σ_j score(i, j) = (n_s - 1)(n_t - 1) <C_s, C_t>_F, CORAL's cross term.
    total = ops.convert_to_numpy(weighting.coral_scores(np.float32(source), np.float32(target))).sum()
    frobenius = (len(source) - 1) * (len(target) - 1) * (np.cov(source.T) * np.cov(target.T)).sum()
    assert total == pytest.approx(frobenius, rel=1e-4)


def test_all_zero_scores_give_uniform_weights():
    target = np.ones((3, 4))  # no target variance: every CORAL score is 0
    np.testing.assert_allclose(weights(np.eye(4), target, "coral"), np.full(4, 0.25))
    with pytest.raises(ValueError, match="score"):
        weighting.instance_weights(np.eye(2), np.eye(2), "kl")


def test_effective_sample_size():
    assert float(weighting.effective_sample_size(np.full(4, 0.25, "float32"))) == pytest.approx(1.0)
    assert float(weighting.effective_sample_size(np.float32([1, 0, 0, 0]))) == pytest.approx(0.25)


def test_paired_dataset_cycles_the_target_texts():
    import tensorflow as tf

    from keras_clx.data.pipeline import paired_dataset
    from keras_clx.errors import DataError

    source = tf.data.Dataset.from_tensor_slices(({"ids": np.arange(10)}, np.arange(10) % 2)).batch(4)
    targets = ["a", "bb", "ccc"]  # fewer texts than a batch

    def preprocessor(texts, y=None):
        return {"length": tf.strings.length(texts)}

    paired = paired_dataset(source, targets, preprocessor, batch_size=4, seed=0)
    seen = set()
    for _epoch in range(2):
        batches = list(paired.as_numpy_iterator())
        assert len(batches) == 3  # one per source batch, every epoch
        for (x, y), size in zip(batches, (4, 4, 2)):
            assert set(x) == {"source", "target"}
            assert len(x["source"]["ids"]) == len(y) == size
            assert x["target"]["length"].shape == (4,)
            seen.update(x["target"]["length"].tolist())
    assert seen == {1, 2, 3}
    with pytest.raises(DataError, match="unlabelled target"):
        paired_dataset(source, [], preprocessor, 4)
