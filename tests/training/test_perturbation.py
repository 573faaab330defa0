"""Eq. 1-2 on the current backend: g, r_adv, random, VAT and K-step perturbations."""

import pathlib

import keras
import numpy as np
import pytest
from keras import ops

from keras_clx.training import perturbation as perturb
from keras_clx.training.steps import TransferConfig, embedding_gradient, perturbation

ABSOLUTE = {"epsilon_mode": "absolute"}  # ‖r‖₂ = ε, as the paper


def losses_at(model, x, y, r=None):
    """Per-example losses at the embeddings of `x` shifted by `r` (inference mode)."""
    x = keras.tree.map_structure(ops.convert_to_tensor, x)
    e = model.embed(x)
    if r is not None:
        e = e + ops.cast(r, e.dtype)
    logits, _ = model.classify_embeddings(e, x)
    return ops.convert_to_numpy(ops.stop_gradient(model.per_example_loss(y, logits)))


def norms(r, mask):
    r = np.asarray(r) * np.asarray(mask)[:, :, None]
    return np.sqrt((r**2).sum(axis=(1, 2)))


def test_scale_to_norm_per_example_and_per_batch(batch):
    x, _ = batch()
    mask = x["padding_mask"]
    g = np.random.default_rng(1).normal(size=(*mask.shape, 4)).astype("float32")
    g[1] *= 1e-9  # a tiny gradient still gives a full-size perturbation
    r = ops.convert_to_numpy(perturb.adversarial_perturbation(g, 0.7, mask, "example"))
    np.testing.assert_allclose(norms(r, np.ones_like(mask)), 0.7, rtol=1e-5)
    assert np.all(r[~mask] == 0)
    # r is g rescaled: same direction inside the mask
    cos = (r[0] * g[0]).sum() / (np.linalg.norm(r[0]) * np.linalg.norm(g[0] * mask[0][:, None]))
    assert cos == pytest.approx(1.0, abs=1e-5)

    rb = ops.convert_to_numpy(perturb.adversarial_perturbation(g, 0.7, mask, "batch"))
    assert np.sqrt((rb**2).sum()) == pytest.approx(0.7, rel=1e-5)
    assert np.all(rb[~mask] == 0)
    zero = ops.convert_to_numpy(perturb.scale_to_norm(np.zeros_like(g), 1.0, mask))
    assert np.all(zero == 0) and np.all(np.isfinite(zero))


def test_projection_onto_the_epsilon_ball():
    mask = np.ones((2, 3), bool)
    r = np.zeros((2, 3, 2), "float32")
    r[0, 0, 0], r[1, 0, 0] = 3.0, 0.5
    p = ops.convert_to_numpy(perturb.project(r, 1.0, mask))
    np.testing.assert_allclose(norms(p, mask), [1.0, 0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="norm"):
        perturb.scale_to_norm(r, 1.0, mask, norm="token")


def test_gradient_matches_finite_differences(classifier, batch):
    model = classifier(weights="numpy")
    x, y = batch()
    g = ops.convert_to_numpy(embedding_gradient(model, x, y))
    e = ops.convert_to_numpy(model.embed(x))
    assert g.shape == e.shape and np.abs(g).max() > 0

    h = 1e-2
    rng = np.random.default_rng(0)
    directions = [rng.normal(size=g.shape) for _ in range(3)]  # random directions
    for index in np.argsort(np.abs(g).ravel())[-3:]:  # and the largest coordinates
        u = np.zeros(g.size)
        u[index] = 1.0
        directions.append(u.reshape(g.shape))
    directions = [(u / np.linalg.norm(u)).astype("float32") for u in directions]
    # Every e ± h·u in one batch: copies of x, one per signed direction.
    n = len(directions)
    stacked = {k: np.concatenate([v] * 2 * n) for k, v in x.items()}
    deltas = np.concatenate([s * h * u for u in directions for s in (1, -1)])
    losses = losses_at(model, stacked, np.concatenate([y] * 2 * n), deltas).astype("float64")
    means = losses.reshape(2 * n, -1).mean(axis=1)
    for i, u in enumerate(directions):
        fd = (means[2 * i] - means[2 * i + 1]) / (2 * h)
        assert fd == pytest.approx(float((g * u).sum()), rel=2e-2, abs=1e-5)


@pytest.mark.parametrize("norm", ["example", "batch"])
def test_adversarial_perturbation_has_norm_epsilon_and_spares_padding(classifier, batch, norm):
    model = classifier(weights="numpy")
    x, y = batch()
    r = ops.convert_to_numpy(perturbation(model, x, y, TransferConfig("adversarial", 0.5, norm=norm, **ABSOLUTE)))
    assert np.all(r[~x["padding_mask"]] == 0)
    if norm == "example":
        np.testing.assert_allclose(norms(r, x["padding_mask"]), 0.5, rtol=1e-5)
    else:
        assert np.sqrt((r**2).sum()) == pytest.approx(0.5, rel=1e-5)


def test_special_tokens_are_not_perturbed_unless_asked(classifier):
    from keras_clx.models.backbones import build_backbone

    texts = ["the cat sat on the mat", "a dog ran in the park", "hello world"] * 10
    _, preprocessor = build_backbone("bert_tiny", texts, sequence_length=10, vocabulary_size=40)
    model = classifier(weights="numpy")
    model.preprocessor = preprocessor
    x = {k: ops.convert_to_numpy(v) for k, v in preprocessor(["the cat sat", "a dog ran in the park"]).items()}
    y = np.array([0, 1], "int32")
    tokenizer = preprocessor.tokenizer
    special = np.isin(x["token_ids"], [tokenizer.cls_token_id, tokenizer.sep_token_id])
    words = x["padding_mask"] & ~special
    r = ops.convert_to_numpy(perturbation(model, x, y, TransferConfig("adversarial", 0.5, **ABSOLUTE)))
    assert special[:, 0].all() and np.all(r[special] == 0) and np.all(r[~x["padding_mask"]] == 0)
    np.testing.assert_allclose(norms(r, words), 0.5, rtol=1e-5)
    everything = TransferConfig("adversarial", 0.5, perturb_special_tokens=True, **ABSOLUTE)
    r_all = ops.convert_to_numpy(perturbation(model, x, y, everything))
    assert np.abs(r_all[:, 0]).sum() > 0
    np.testing.assert_allclose(norms(r_all, x["padding_mask"]), 0.5, rtol=1e-5)


def test_adversarial_loss_exceeds_clean_and_random_loss_on_a_trained_model(classifier, batch):
    model = classifier(seed=1)
    x, _ = batch(n=48, seed=3)
    y = (x["token_ids"] % 3 == 0).sum(axis=1) % 3  # a learnable rule on the tokens
    model.compile(optimizer=keras.optimizers.Adam(3e-2))
    model.fit(x, y, batch_size=48, epochs=12, verbose=0)
    e = ops.convert_to_numpy(model.embed(x))
    epsilon = 0.25 * float(np.median(norms(e, x["padding_mask"])))
    clean = losses_at(model, x, y)
    adv = losses_at(model, x, y, perturbation(model, x, y, TransferConfig("adversarial", epsilon, **ABSOLUTE)))
    rand = losses_at(model, x, y, perturbation(model, x, y, TransferConfig("random", epsilon, **ABSOLUTE)))
    assert clean.mean() < 0.8  # trained
    assert adv.mean() > clean.mean()
    assert (adv > clean).mean() >= 0.9  # per example, up to ties at saturated predictions
    assert adv.mean() - clean.mean() > 3 * abs(rand.mean() - clean.mean())


def test_random_perturbation_is_scaled_and_seeded(classifier, batch):
    model = classifier(weights="numpy")
    x, y = batch()
    config = TransferConfig("random", 0.3, **ABSOLUTE)
    r1 = ops.convert_to_numpy(perturbation(model, x, y, config, seed=5))
    r2 = ops.convert_to_numpy(perturbation(model, x, y, config, seed=5))
    r3 = ops.convert_to_numpy(perturbation(model, x, y, config, seed=6))
    np.testing.assert_allclose(norms(r1, x["padding_mask"]), 0.3, rtol=1e-5)
    assert np.all(r1[~x["padding_mask"]] == 0)
    np.testing.assert_array_equal(r1, r2)
    assert not np.allclose(r1, r3)


def test_virtual_perturbation_uses_no_labels(classifier, batch):
    model = classifier(weights="numpy")
    x, y = batch()
    config = TransferConfig("virtual", 0.5, perturbation_steps=2, **ABSOLUTE)
    r = ops.convert_to_numpy(perturbation(model, x, y, config))
    r_other = ops.convert_to_numpy(perturbation(model, x, (y + 1) % 3, config))
    r_none = ops.convert_to_numpy(perturbation(model, x, None, config))
    np.testing.assert_allclose(r, r_other, atol=1e-6)
    np.testing.assert_allclose(r, r_none, atol=1e-6)
    np.testing.assert_allclose(norms(r, x["padding_mask"]), 0.5, rtol=1e-5)
    assert np.all(r[~x["padding_mask"]] == 0)
    # The power iteration finds a direction that moves the prediction more than noise does.
    x = keras.tree.map_structure(ops.convert_to_tensor, x)
    reference = ops.convert_to_numpy(model.classify(x)[0])

    def divergence(delta):
        logits, _ = model.classify_embeddings(model.embed(x) + ops.convert_to_tensor(delta), x)
        return ops.convert_to_numpy(ops.stop_gradient(perturb.kl_divergence(reference, logits))).mean()

    noise = perturbation(model, x, None, TransferConfig("random", 0.5, **ABSOLUTE))
    assert divergence(r) > 2 * divergence(noise)


def test_k_step_perturbation_stays_in_the_ball_and_increases_the_loss(classifier, batch):
    model = classifier(weights="numpy")
    x, y = batch()
    one = perturbation(model, x, y, TransferConfig("adversarial", 1.0, **ABSOLUTE))
    many = perturbation(model, x, y, TransferConfig("adversarial", 1.0, perturbation_steps=5, **ABSOLUTE))
    assert np.all(norms(ops.convert_to_numpy(many), x["padding_mask"]) <= 1.0 + 1e-5)
    assert not np.allclose(ops.convert_to_numpy(one), ops.convert_to_numpy(many))
    loss_one, loss_many = losses_at(model, x, y, one).mean(), losses_at(model, x, y, many).mean()
    assert loss_many >= loss_one - 1e-6
    assert loss_many > losses_at(model, x, y).mean()


REFERENCE = pathlib.Path(__file__).parent / "data" / "perturbation_reference.npz"


def test_same_perturbation_on_tensorflow_jax_and_torch(classifier, batch):
    """The same weights and batch give the same g and r on every backend (within 1e-4).

    The reference holds what TensorFlow, JAX and torch each computed for this model
    and batch (`make_reference.py` regenerates it); every backend's run is checked
    against all three.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_reference", REFERENCE.parent.parent / "make_reference.py")
    make_reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_reference)
    current = make_reference.compute()
    with np.load(REFERENCE) as data:
        reference = {k: data[k] for k in data.files}
    for backend in make_reference.BACKENDS:
        stored = reference[f"{backend}/weights_checksum"]
        assert current["weights_checksum"] == pytest.approx(stored, rel=1e-9), (
            "the fixture model changed: regenerate with tests/training/make_reference.py"
        )
        for name in ("g", "r_example", "r_batch", "r_3_steps"):
            difference = float(np.abs(current[name] - reference[f"{backend}/{name}"]).max())
            assert difference < 1e-4, f"{name}: {keras.backend.backend()} vs {backend}: {difference:.2e}"
    assert np.abs(current["r_example"]).max() > 1e-2


@pytest.mark.parametrize("kind", ["adversarial", "random", "virtual", "k_step"])
@pytest.mark.parametrize("norm", ["example", "batch"])
def test_relative_epsilon_scales_with_the_embeddings(classifier, batch, kind, norm):
    """The same relative ε gives ‖r‖₂ = ε·‖e‖₂: multiplying the embeddings by 4 multiplies r's
    norm by 4; the absolute ε keeps ‖r‖₂ = ε whatever the scale."""
    x, y = batch()
    mask = x["padding_mask"]
    perturbation_type, k = ("adversarial", 3) if kind == "k_step" else (kind, 1)
    sizes = {}
    for scale in (1.0, 4.0):
        model = classifier(weights="numpy")
        table = model.backbone.token_embedding.embeddings
        table.assign(ops.convert_to_numpy(table) * scale)
        e = ops.convert_to_numpy(model.embed(keras.tree.map_structure(ops.convert_to_tensor, x)))
        for mode, epsilon in (("relative", 0.2), ("absolute", 0.5)):
            config = TransferConfig(
                perturbation_type,
                epsilon,
                epsilon_mode=mode,
                norm=norm,
                perturbation_steps=k,
                perturb_special_tokens=True,
            )
            r = ops.convert_to_numpy(perturbation(model, x, y, config, seed=3))
            assert np.all(r[~mask] == 0)
            if norm == "example":
                sizes[mode, scale], e_size = norms(r, mask), norms(e, mask)
            else:
                sizes[mode, scale] = np.sqrt((r**2).sum())
                e_size = np.sqrt(((e * mask[:, :, None]) ** 2).sum())
            if mode == "relative":
                bound = sizes[mode, scale] / e_size
                if kind == "k_step":  # projected steps stay inside the ball
                    assert np.all(bound <= 0.2 + 1e-5) and np.all(bound > 0.1)
                else:
                    np.testing.assert_allclose(bound, 0.2, rtol=1e-4)
    if kind != "k_step":
        np.testing.assert_allclose(sizes["relative", 4.0], 4 * sizes["relative", 1.0], rtol=1e-4)
        np.testing.assert_allclose(sizes["absolute", 4.0], 0.5, rtol=1e-5)
        np.testing.assert_allclose(sizes["absolute", 1.0], 0.5, rtol=1e-5)


def test_radius_is_epsilon_times_the_embedding_norm():
    e = np.zeros((2, 3, 2), "float32")
    e[0, 0, 0], e[1, 1, 1], e[1, 2, 1] = 3.0, 4.0, 100.0  # e[1, 2] is padding
    mask = np.array([[1, 1, 0], [1, 1, 0]], bool)
    np.testing.assert_allclose(ops.convert_to_numpy(perturb.radius(0.5, e, mask)).ravel(), [1.5, 2.0])
    assert float(ops.convert_to_numpy(perturb.radius(0.5, e, mask, "batch"))) == pytest.approx(2.5)
    assert perturb.radius(0.5, e, mask, mode="absolute") == 0.5
    with pytest.raises(ValueError, match="mode"):
        perturb.radius(0.5, e, mask, mode="scaled")
