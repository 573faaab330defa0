"""The transfer train step on the current backend: updates, weights, metrics, options."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_clx.errors import ClxError
from keras_clx.training import weighting
from keras_clx.training.steps import TransferConfig

# One-off steps run faster uncompiled on JAX; `test_jit_compile` and the fit tests compile.
EAGER = {"jit_compile": False}


def updated_weights(model, transfer, x, y, sample_weight=None, optimizer=None):
    model.compile(optimizer=optimizer or keras.optimizers.SGD(1.0), transfer=transfer, **EAGER)
    model.train_on_batch(x, y, sample_weight=sample_weight)
    return model.get_weights()


def assert_same_weights(a, b, atol=1e-6):
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_epsilon_zero_and_clean_weight_zero_is_a_vanilla_step(classifier, batch, with_sample_weight):
    x, y = batch()
    sample_weight = np.linspace(0.5, 2.0, len(y)).astype("float32") if with_sample_weight else None
    vanilla = updated_weights(classifier(weights="numpy"), None, x, y, sample_weight)
    config = TransferConfig("adversarial", epsilon=0.0, clean_weight=0.0)
    transfer = updated_weights(classifier(weights="numpy"), config, x, y, sample_weight)
    before = classifier(weights="numpy").get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(vanilla, before)) > 1e-3  # the step moved
    assert_same_weights(vanilla, transfer)


@pytest.mark.parametrize("perturbation", ["none", "adversarial"])
def test_weighted_step_gradient_is_the_weighted_sum_of_example_gradients(classifier, batch, perturbation):
    x, y = batch(seed=0)
    target, _ = batch(seed=1)
    model = classifier(weights="numpy")
    before = model.get_weights()
    # The instance weights, from the representations h of both batches.
    tensors = keras.tree.map_structure(ops.convert_to_tensor, (x, target))
    h_s, h_t = (ops.convert_to_numpy(model.classify(t)[1]) for t in tensors)
    cosine = (h_s @ h_t.T / np.outer(np.linalg.norm(h_s, axis=1), np.linalg.norm(h_t, axis=1)) + 1) / 2
    w = cosine.sum(1) / cosine.sum()
    np.testing.assert_allclose(ops.convert_to_numpy(weighting.instance_weights(h_s, h_t)), w, rtol=1e-5)
    # ∇L_i by hand: Keras's own step on the batch with a one-hot sample weight gives -∇L_i / n.
    vanilla = classifier(weights="numpy")
    vanilla.compile(optimizer=keras.optimizers.SGD(1.0), **EAGER)
    per_example = []
    for i in range(len(y)):
        vanilla.set_weights(before)
        vanilla.train_on_batch(x, y, sample_weight=np.eye(len(y), dtype="float32")[i])
        per_example.append([len(y) * (a - b) for a, b in zip(vanilla.get_weights(), before)])
    expected = [b + sum(w[i] * per_example[i][k] for i in range(len(y))) for k, b in enumerate(before)]
    # ε = 0 with clean_weight = 0: the adversarial step composes with the weights unchanged.
    config = TransferConfig(
        perturbation, epsilon=0.0, clean_weight=0.0 if perturbation != "none" else 1.0, weighting="cosine"
    )
    got = updated_weights(model, config, {"source": x, "target": target}, y)
    assert_same_weights(expected, got)


@pytest.mark.parametrize(
    "perturbation,weighting,passes",
    [
        ("adversarial", "none", 2),  # clean forward (+ backward), perturbed forward (+ backward)
        ("none", "cosine", 2),  # target forward (no backward), clean forward (+ backward)
        ("adversarial", "cosine", 3),
    ],
)
def test_encoder_passes_per_step(classifier, batch, perturbation, weighting, passes):
    x, y = batch()
    model = classifier()
    encode, calls = model._path.encode, []

    def counting(*args, **kwargs):
        calls.append(1)
        return encode(*args, **kwargs)

    model._path.encode = counting
    eager = {"run_eagerly": True} if keras.backend.backend() == "tensorflow" else EAGER
    model.compile(optimizer="sgd", transfer=TransferConfig(perturbation, 0.5, weighting=weighting), **eager)
    data = {"source": x, "target": x} if weighting != "none" else x
    model.train_on_batch(data, y)
    assert len(calls) == passes


def test_loss_scaling_optimizer_gives_the_same_update(classifier, batch):
    x, y = batch()
    config = TransferConfig("adversarial", epsilon=0.5)
    plain = updated_weights(classifier(weights="numpy"), config, x, y, optimizer=keras.optimizers.SGD(0.5))
    scaled_optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5), initial_scale=256.0)
    scaled = updated_weights(classifier(weights="numpy"), config, x, y, optimizer=scaled_optimizer)
    assert_same_weights(plain, scaled, atol=1e-5)


def test_fit_reports_clean_and_adversarial_losses(classifier, batch):
    x, y = batch(n=16, seed=2)
    target, _ = batch(n=16, seed=3)
    model = classifier(dropout=0.1)
    config = TransferConfig("adversarial", epsilon=0.5, weighting="cosine")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), transfer=config)
    history = model.fit(
        {"source": x, "target": target}, y, batch_size=8, epochs=1, verbose=0, validation_data=(x, y)
    ).history
    assert set(history) == {
        "loss",
        "accuracy",
        "clean_loss",
        "adv_loss",
        "weight_ess",
        "perturbation_norm",
        "perturbation_ratio",
        "val_loss",
        "val_accuracy",
    }
    assert history["loss"][0] == pytest.approx(history["clean_loss"][0] + history["adv_loss"][0], rel=1e-5)
    assert 0.5 < history["weight_ess"][0] <= 1.0
    # Compiled again without a transfer config: Keras's own step and metrics.
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert model.transfer is None
    assert not {"clean_loss", "adv_loss"} & {m.name for m in model.metrics}


@pytest.mark.parametrize("perturbation,k", [("random", 1), ("virtual", 1), ("adversarial", 2)])
def test_other_perturbations_train(classifier, batch, perturbation, k):
    x, y = batch(seed=4)
    target, _ = batch(seed=5)
    model = classifier()
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), transfer=TransferConfig(perturbation, 0.5, perturbation_steps=k), **EAGER
    )
    data = {"source": x, "target": target} if perturbation == "virtual" else x
    history = model.fit(data, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["adv_loss"][0]) and history["adv_loss"][0] >= 0


def test_jit_compile(classifier, batch):
    """The compiled step (XLA on TensorFlow and JAX) trains as the uncompiled one; torch.compile
    takes minutes on CPU (checked by hand: docs/training.md)."""
    if keras.backend.backend() == "torch":
        pytest.skip("torch.compile of the transfer step takes minutes on CPU (see docs/training.md)")
    x, y = batch()
    eager, compiled = classifier(weights="numpy"), classifier(weights="numpy")
    for model, jit_compile in ((eager, False), (compiled, True)):
        model.compile(
            optimizer=keras.optimizers.SGD(0.5), transfer=TransferConfig("adversarial", 0.5), jit_compile=jit_compile
        )
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
        assert history["adv_loss"][0] > 0 and np.isfinite(history["loss"][1])
    assert compiled.jit_compile and not eager.jit_compile
    assert_same_weights(eager.get_weights(), compiled.get_weights(), atol=1e-5)


def test_instance_weighting_needs_paired_batches(classifier, batch):
    x, y = batch()
    model = classifier()
    model.compile(optimizer="sgd", transfer=TransferConfig(weighting="cosine"), jit_compile=False)
    with pytest.raises(ClxError, match="paired batches"):
        model.train_on_batch(x, y)


def test_transfer_config_checks_its_options():
    with pytest.raises(ClxError, match="perturbation must be one of"):
        TransferConfig("adversarail")
    with pytest.raises(ClxError, match="weighting must be one of"):
        TransferConfig(weighting="kl")
    with pytest.raises(ClxError, match="perturbation_steps"):
        TransferConfig("random", perturbation_steps=3)
    with pytest.raises(ClxError, match="epsilon_mode must be one of"):
        TransferConfig("adversarial", epsilon_mode="scaled")
    with pytest.raises(ClxError, match="clean_weight > 0"):
        TransferConfig("virtual", clean_weight=0.0)
    assert TransferConfig().is_vanilla and TransferConfig("adversarial", 2.0, perturbation_steps=4).step_size == 0.5
    assert TransferConfig(weighting="coral").uses_target_batches


def test_recipe_options_reach_the_step():
    from keras_clx.recipes import Recipe, apply_overrides

    recipe = apply_overrides(
        Recipe(),
        [
            "train.perturbation=adversarial",
            "train.epsilon=0.5",
            "train.clean_weight=0",
            "train.perturbation_norm=batch",
            "train.perturbation_steps=3",
            "train.instance_weighting=euclidean",
            "train.target_inference_mode=true",
        ],
    )
    config = TransferConfig.from_recipe(recipe.train)
    assert (config.perturbation, config.epsilon, config.clean_weight, config.norm, config.perturbation_steps) == (
        "adversarial",
        0.5,
        0.0,
        "batch",
        3,
    )
    assert config.weighting == "euclidean" and config.target_inference_mode
    assert config.epsilon_mode == "relative"
    assert "adversarial perturbation (ε=0.5·‖e‖ per batch, 3 steps" in config.describe()


@pytest.mark.slow
def test_experiment_fit_with_perturbation_and_instance_weighting(tiny_recipe, tmp_path):
    from keras_clx.experiment import fit

    run = fit(
        tiny_recipe("train.perturbation=adversarial", "train.instance_weighting=cosine"),
        out_dir=tmp_path / "run",
        verbose=0,
    )
    assert {"clean_loss", "adv_loss", "weight_ess"} <= set(run.history)
    assert "adv_loss" in (tmp_path / "run" / "training_log.csv").read_text().splitlines()[0]
    assert run.report.target_average()["accuracy"] > 0


@pytest.mark.parametrize("mode,epsilon", [("relative", 0.2), ("absolute", 0.3)])
def test_step_tracks_the_perturbation_size(classifier, batch, mode, epsilon):
    x, y = batch()
    model = classifier(weights="numpy")
    config = TransferConfig("adversarial", epsilon, epsilon_mode=mode, perturb_special_tokens=True)
    model.compile(optimizer=keras.optimizers.SGD(0.0), transfer=config, **EAGER)
    logs = model.train_on_batch(x, y, return_dict=True)
    e = ops.convert_to_numpy(model.embed(keras.tree.map_structure(ops.convert_to_tensor, x)))
    e_norms = np.sqrt(((e * x["padding_mask"][:, :, None]) ** 2).sum(axis=(1, 2)))
    if mode == "relative":
        assert logs["perturbation_ratio"] == pytest.approx(epsilon, rel=1e-4)
        assert logs["perturbation_norm"] == pytest.approx(epsilon * e_norms.mean(), rel=1e-4)
    else:
        assert logs["perturbation_norm"] == pytest.approx(epsilon, rel=1e-4)
        assert logs["perturbation_ratio"] == pytest.approx((epsilon / e_norms).mean(), rel=1e-4)


def test_weight_ess_is_the_effective_sample_size_of_the_instance_weights(classifier, batch):
    x, y = batch(seed=0)
    target, _ = batch(seed=1)
    model = classifier(weights="numpy")
    tensors = keras.tree.map_structure(ops.convert_to_tensor, (x, target))
    h_s, h_t = (ops.convert_to_numpy(model.classify(t)[1]) for t in tensors)
    w = ops.convert_to_numpy(weighting.instance_weights(h_s, h_t, "coral"))
    expected = 1.0 / (len(w) * (w**2).sum())  # ESS = 1 / Σ w², as a fraction of the batch
    assert 1.0 / len(w) < expected < 0.999  # coral weights are not uniform here
    model.compile(optimizer=keras.optimizers.SGD(0.0), transfer=TransferConfig(weighting="coral"), **EAGER)
    logs = model.train_on_batch({"source": x, "target": target}, y, return_dict=True)
    assert logs["weight_ess"] == pytest.approx(expected, rel=1e-4)


def test_torch_compile_setting_is_scoped_to_the_train_function():
    if keras.backend.backend() != "torch":
        pytest.skip("torch only")
    import types

    import torch._functorch.config as functorch_config

    from keras_clx.training.steps import torch as torch_step

    before = functorch_config.donated_buffer
    inside = torch_step.wrap_train_function(
        types.SimpleNamespace(jit_compile=True), lambda data: functorch_config.donated_buffer
    )(None)
    assert inside is False and functorch_config.donated_buffer == before
